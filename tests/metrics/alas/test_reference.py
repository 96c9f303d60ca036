"""Reference path: true frame rate, silence before/between/after words, short words, token -> word."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.metrics.alas import reference_path, row_times, token_words

FRAME = 0.04  # seconds per audio position; row centres at 0.02, 0.06, 0.10, ...


def one_token_per_word(n_words: int):
    """Character spans of words "w0 w1 ..." (2 characters each) and one token per word."""
    words = [(3 * w, 3 * w + 2) for w in range(n_words)]
    return words, words


def test_row_times_use_the_frame_rate_and_offset():
    np.testing.assert_allclose(row_times(4, 0.04, 0.5), [0.52, 0.56, 0.60, 0.64])


def test_rows_follow_the_true_frame_rate_not_proportional_scaling():
    words, tokens = one_token_per_word(2)
    # 0.4 s of speech in 0.8 s of audio: proportional scaling would stretch the words over all 20 rows.
    ref = reference_path([(0.0, 0.2), (0.2, 0.4)], words, tokens, n_audio=20, frame_seconds=FRAME)
    assert ref.token_per_row.tolist() == [0] * 5 + [1] * 15  # rows 10-19: silence after the last word
    assert ref.word_per_row.tolist() == [0] * 5 + [1] * 15
    assert ref.words_without_rows == ()


def test_offset_shifts_the_clock():
    words, tokens = one_token_per_word(2)
    plain = reference_path([(0.0, 0.12), (0.12, 0.2)], words, tokens, n_audio=6, frame_seconds=FRAME)
    shifted = reference_path(
        [(1.0, 1.12), (1.12, 1.2)], words, tokens, n_audio=6, frame_seconds=FRAME, offset_seconds=1.0
    )
    np.testing.assert_array_equal(plain.token_per_row, shifted.token_per_row)
    assert plain.token_per_row.tolist() == [0, 0, 0, 1, 1, 1]


def test_silence_before_the_first_word_maps_to_its_first_token_and_speech_rows_spread_over_pieces():
    # "abcd ef": word 0 is two BPE pieces ("ab", "cd"), word 1 one piece.
    ref = reference_path(
        [(0.08, 0.20), (0.20, 0.28)],
        [(0, 4), (5, 7)],
        [(0, 2), (2, 4), (4, 7)],
        n_audio=9,
        frame_seconds=FRAME,
    )
    # rows 0-1 before speech; rows 2-4 in word 0 (3 rows over 2 pieces); 5-6 word 1; 7-8 after it.
    assert ref.token_per_row.tolist() == [0, 0, 0, 0, 1, 2, 2, 2, 2]
    assert ref.word_per_row.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert ref.token_word.tolist() == [0, 0, 1]


def test_silence_between_words_belongs_to_the_previous_word_at_its_last_token():
    ref = reference_path(
        [(0.0, 0.08), (0.20, 0.28)],
        [(0, 4), (5, 7)],
        [(0, 2), (2, 4), (4, 7)],
        n_audio=7,
        frame_seconds=FRAME,
    )
    # rows 0-1: word 0 pieces 0, 1; rows 2-4 (0.10-0.18 s): gap, stay on word 0's last piece; 5-6: word 1.
    assert ref.token_per_row.tolist() == [0, 1, 1, 1, 1, 2, 2]
    assert ref.word_per_row.tolist() == [0, 0, 0, 0, 0, 1, 1]


def test_a_word_between_two_row_centres_gets_no_row_and_is_reported():
    words, tokens = one_token_per_word(3)
    # word 1 lasts 10 ms and holds no row centre (0.06 < 0.085, 0.095 <= 0.10)
    ref = reference_path(
        [(0.0, 0.08), (0.085, 0.095), (0.095, 0.2)], words, tokens, n_audio=5, frame_seconds=FRAME
    )
    assert ref.word_per_row.tolist() == [0, 0, 2, 2, 2]
    assert 1 not in ref.token_per_row
    assert ref.words_without_rows == (1,)


def test_a_short_word_followed_by_silence_keeps_the_silence_rows():
    words, tokens = one_token_per_word(3)
    ref = reference_path(
        [(0.0, 0.08), (0.085, 0.095), (0.2, 0.28)], words, tokens, n_audio=7, frame_seconds=FRAME
    )
    assert ref.word_per_row.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert ref.words_without_rows == ()


def test_words_after_the_audio_ends_get_no_row():
    words, tokens = one_token_per_word(2)
    ref = reference_path([(0.0, 0.08), (0.5, 0.6)], words, tokens, n_audio=3, frame_seconds=FRAME)
    assert ref.token_per_row.tolist() == [0, 0, 0]
    assert ref.words_without_rows == (1,)


def test_a_word_with_more_pieces_than_rows_skips_pieces():
    ref = reference_path([(0.0, 0.08)], [(0, 6)], [(0, 2), (2, 4), (4, 6)], n_audio=2, frame_seconds=FRAME)
    assert ref.token_per_row.tolist() == [0, 1]


def test_bpe_pieces_share_their_word_and_punctuation_joins_the_previous_word():
    # "the cat sat." -> "the", " c", "at", " sat", "."
    tokens = [(0, 3), (3, 5), (5, 7), (7, 11), (11, 12)]
    assert token_words(tokens, [(0, 3), (4, 7), (8, 11)]).tolist() == [0, 1, 1, 2, 2]


def test_leading_and_empty_tokens_without_a_word():
    # '"hi yo': a quote before word 0; an empty special-token span in the middle inherits the previous word.
    tokens = [(0, 1), (1, 3), (3, 3), (3, 6)]
    assert token_words(tokens, [(1, 3), (4, 6)]).tolist() == [0, 0, 0, 1]


def test_a_token_spanning_two_words_goes_to_the_larger_overlap_then_the_earlier_word():
    assert token_words([(0, 4), (4, 6)], [(0, 1), (2, 5)]).tolist() == [1, 1]
    assert token_words([(0, 3), (3, 5)], [(0, 1), (2, 3), (4, 5)]).tolist() == [0, 2]


def test_a_word_without_a_token_of_its_own_uses_the_token_before_it():
    # "a b c" with "a b" merged in one token: word 1 has no token; its rows take token 0.
    ref = reference_path(
        [(0.0, 0.08), (0.08, 0.16), (0.16, 0.24)],
        [(0, 1), (2, 3), (4, 5)],
        [(0, 3), (3, 5)],
        n_audio=6,
        frame_seconds=FRAME,
    )
    assert ref.word_per_row.tolist() == [0, 0, 1, 1, 2, 2]
    assert ref.token_per_row.tolist() == [0, 0, 0, 0, 1, 1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(word_times=[]), "word_times is empty"),
        (dict(word_times=[(0.0, 0.1)]), "word_times has 1 words but word_char_spans has 2"),
        (dict(word_times=[(0.2, 0.3), (0.0, 0.1)]), "sorted by start time"),
        (dict(word_times=[(0.0, 0.1), (0.3, 0.2)]), r"word_times\[1\] ends before it starts"),
        (dict(word_times=[(0.0, np.nan), (0.1, 0.2)]), "word_times contains NaN or inf"),
        (dict(word_char_spans=[(0, 2), (3, 3)]), r"word_char_spans\[1\] is empty"),
        (dict(word_char_spans=[(0, 4), (3, 5)]), "must not overlap"),
        (dict(token_char_spans=[]), "token_char_spans is empty"),
        (dict(token_char_spans=[(3, 5), (0, 2)]), "token offsets must be in text order"),
        (dict(token_char_spans=[0, 2, 3]), r"list of \(start, end\) pairs"),
        (dict(frame_seconds=0.0), "frame_seconds must be positive"),
        (dict(frame_seconds=-0.04), "frame_seconds must be positive"),
        (dict(offset_seconds=np.inf), "offset_seconds must be finite"),
        (dict(n_audio=0), "at least one audio position"),
    ],
)
def test_bad_inputs_say_what_is_wrong(kwargs, message):
    args = dict(
        word_times=[(0.0, 0.1), (0.1, 0.2)],
        word_char_spans=[(0, 2), (3, 5)],
        token_char_spans=[(0, 2), (2, 5)],
        n_audio=5,
        frame_seconds=FRAME,
        offset_seconds=0.0,
    )
    with pytest.raises(ValueError, match=message):
        reference_path(**{**args, **kwargs})


@st.composite
def timed_tokenised_words(draw):
    n_words = draw(st.integers(1, 8))
    pieces = draw(st.lists(st.integers(1, 3), min_size=n_words, max_size=n_words))
    durations = draw(st.lists(st.floats(0.001, 0.3), min_size=n_words, max_size=n_words))
    gaps = draw(st.lists(st.floats(0.0, 0.3), min_size=n_words, max_size=n_words))
    starts = np.cumsum(gaps) + np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    times = np.stack([starts, starts + np.asarray(durations)], axis=1)
    word_spans, token_spans, position = [], [], 0
    for n_pieces in pieces:  # word of 2 * n_pieces characters, one space between words
        word_spans.append((position, position + 2 * n_pieces))
        token_spans += [(position + 2 * k, position + 2 * k + 2) for k in range(n_pieces)]
        position += 2 * n_pieces + 1
    n_audio = draw(st.integers(1, 60))
    return times, word_spans, token_spans, n_audio


@settings(max_examples=200, deadline=None)
@given(timed_tokenised_words(), st.floats(0.01, 0.1), st.floats(-0.2, 0.2))
def test_reference_is_monotonic_in_range_and_consistent_with_its_words(case, frame, offset):
    times, word_spans, token_spans, n_audio = case
    ref = reference_path(times, word_spans, token_spans, n_audio, frame, offset)
    assert ref.token_per_row.shape == ref.word_per_row.shape == (n_audio,)
    assert (np.diff(ref.token_per_row) >= 0).all() and (np.diff(ref.word_per_row) >= 0).all()
    assert ref.token_per_row.min() >= 0 and ref.token_per_row.max() < len(token_spans)
    np.testing.assert_array_equal(ref.token_word[ref.token_per_row], ref.word_per_row)
    assert set(ref.words_without_rows) == set(range(len(times))) - set(ref.word_per_row.tolist())
