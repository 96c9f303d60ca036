"""Matching recognised words to transcript words: hand cases with exact expected times and counts,
and properties that must hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.data.manifest import Word
from speechalign.reference.matching import (
    INTERPOLATED,
    MATCHED,
    SUBSTITUTED,
    ErrorCounts,
    edit_operations,
    match_words,
)
from speechalign.reference.normalise import normalise_word, normalise_words, spell_number


def times(result):
    return [(w.text, round(w.start, 6), round(w.end, 6), w.flag) for w in result.words]


def counts(result):
    c = result.counts
    return c.substitutions, c.deletions, c.insertions, c.reference_words


def test_identical_words_carry_their_times():
    rec = [Word("the", 0.1, 0.2), Word("cat", 0.25, 0.5)]
    m = match_words(["The", "cat."], rec, 1.0)
    assert times(m) == [("The", 0.1, 0.2, MATCHED), ("cat.", 0.25, 0.5, MATCHED)]
    assert counts(m) == (0, 0, 0, 2) and m.counts.wer == 0.0


def test_insertion_is_counted_and_its_time_dropped():
    rec = [Word("the", 0.1, 0.2), Word("big", 0.2, 0.4), Word("cat", 0.4, 0.6)]
    m = match_words(["the", "cat"], rec, 1.0)
    assert times(m) == [("the", 0.1, 0.2, MATCHED), ("cat", 0.4, 0.6, MATCHED)]
    assert counts(m) == (0, 0, 1, 2) and m.counts.wer == 0.5


def test_deletion_gets_interpolated_time_shared_by_characters():
    # "a" (1 char) and "tiny" (4 chars) share the 0.2..0.7 gap 1:4
    rec = [Word("see", 0.0, 0.2), Word("dog", 0.7, 1.0)]
    m = match_words(["see", "a", "tiny", "dog"], rec, 1.2)
    assert times(m) == [
        ("see", 0.0, 0.2, MATCHED),
        ("a", 0.2, 0.3, INTERPOLATED),
        ("tiny", 0.3, 0.7, INTERPOLATED),
        ("dog", 0.7, 1.0, MATCHED),
    ]
    assert counts(m) == (0, 2, 0, 4) and m.interpolated == 2


def test_deletions_at_the_edges_use_the_audio_bounds():
    m = match_words(["oh", "hello", "there"], [Word("hello", 0.5, 0.9)], 2.0)
    assert times(m) == [
        ("oh", 0.0, 0.5, INTERPOLATED),
        ("hello", 0.5, 0.9, MATCHED),
        ("there", 0.9, 2.0, INTERPOLATED),
    ]


def test_substitution_keeps_the_time_and_is_flagged():
    m = match_words(["Mary", "Smith"], [Word("Marie", 0.0, 0.3), Word("Smith", 0.3, 0.6)], 1.0)
    assert times(m) == [("Mary", 0.0, 0.3, SUBSTITUTED), ("Smith", 0.3, 0.6, MATCHED)]
    assert counts(m) == (1, 0, 0, 2)


def test_digits_match_spelled_out_hyphenated_number():
    m = match_words(
        ["is", "forty-two", "years"],
        [Word("is", 0.0, 0.2), Word("42", 0.2, 0.8), Word("years", 0.8, 1.0)],
        1.0,
    )
    assert times(m) == [
        ("is", 0.0, 0.2, MATCHED),
        ("forty-two", 0.2, 0.8, MATCHED),
        ("years", 0.8, 1.0, MATCHED),
    ]
    assert counts(m) == (0, 0, 0, 4)


def test_one_recognised_number_split_over_two_transcript_words():
    # "300" -> "three hundred": each token takes half of the recognised word's span
    m = match_words(["three", "hundred", "apples"], [Word("300", 1.0, 2.0), Word("apples", 2.0, 2.5)], 3.0)
    assert times(m) == [
        ("three", 1.0, 1.5, MATCHED),
        ("hundred", 1.5, 2.0, MATCHED),
        ("apples", 2.0, 2.5, MATCHED),
    ]


def test_year_and_ordinal_digits():
    assert normalise_word("1990") == ["nineteen", "ninety"]
    assert normalise_word("1905,") == ["nineteen", "oh", "five"]
    assert normalise_word("21st") == ["twenty", "first"]
    assert normalise_word("$1,200") == ["one", "thousand", "two", "hundred", "dollars"]
    assert spell_number("3.25") == "three point two five"
    assert spell_number("birch") is None


def test_case_and_punctuation_do_not_count_as_errors():
    rec = [Word("Hello,", 0.0, 0.3), Word("world!", 0.3, 0.6), Word("Don't", 0.6, 0.9)]
    m = match_words(["hello", "World.", "don’t"], rec, 1.0)
    assert [w.flag for w in m.words] == [MATCHED] * 3 and m.counts.errors == 0


def test_punctuation_only_recognition_is_ignored():
    m = match_words(["yes"], [Word("-", 0.0, 0.1), Word("yes.", 0.1, 0.4), Word("...", 0.4, 0.5)], 1.0)
    assert times(m) == [("yes", 0.1, 0.4, MATCHED)] and m.counts.errors == 0


def test_empty_recognition_interpolates_everything_over_the_audio():
    m = match_words(["ab", "c", "d"], [], 2.0)
    assert times(m) == [
        ("ab", 0.0, 1.0, INTERPOLATED),
        ("c", 1.0, 1.5, INTERPOLATED),
        ("d", 1.5, 2.0, INTERPOLATED),
    ]
    assert counts(m) == (0, 3, 0, 3) and m.counts.wer == 1.0


def test_recognised_times_past_the_audio_end_are_clipped():
    m = match_words(["end"], [Word("end", 0.8, 1.4)], 1.0)
    assert times(m) == [("end", 0.8, 1.0, MATCHED)]


def test_bad_duration_is_refused():
    with pytest.raises(ValueError, match="duration"):
        match_words(["a"], [], float("nan"))


def test_corpus_wer_sums_counts_instead_of_averaging_rates():
    short = ErrorCounts(substitutions=1, reference_words=1)  # rate 1.0
    long = ErrorCounts(reference_words=9)  # rate 0.0
    assert (short + long).wer == pytest.approx(0.1)  # not the mean rate 0.5
    assert ErrorCounts().wer == 0.0 and ErrorCounts(insertions=2).wer == float("inf")


def test_edit_operations_prefers_substitution_on_ties():
    assert edit_operations(["a", "b"], ["a", "c"]) == [("match", 0, 0), ("sub", 1, 1)]
    assert edit_operations([], ["x"]) == [("ins", None, 0)]


vocab = st.sampled_from(["the", "cat", "sat", "on", "mat", "42", "forty-two", "Hello,", "dog."])
words = st.lists(vocab, max_size=8)


@st.composite
def recognitions(draw):
    texts = draw(words)
    gaps = draw(st.lists(st.floats(0.0, 0.5), min_size=2 * len(texts), max_size=2 * len(texts)))
    out, t = [], 0.0
    for k, text in enumerate(texts):
        start = t + gaps[2 * k]
        t = start + gaps[2 * k + 1]
        out.append(Word(text, start, t))
    return out


@settings(max_examples=150, deadline=None)
@given(transcript=words, recognised=recognitions(), tail=st.floats(0.0, 1.0))
def test_properties_every_word_timed_in_order_within_the_audio(transcript, recognised, tail):
    duration = (recognised[-1].end if recognised else 0.0) + tail
    m = match_words(transcript, recognised, duration)
    assert [w.text for w in m.words] == transcript
    previous_end = 0.0
    for w in m.words:
        assert 0.0 <= w.start <= w.end <= duration + 1e-9
        assert w.start >= previous_end - 1e-9  # monotonic, no overlap
        previous_end = w.end
    ref_tokens = len(normalise_words(transcript))
    hyp_tokens = len(normalise_words([w.text for w in recognised]))
    c = m.counts
    assert c.reference_words == ref_tokens
    # hits + S + D = N and hits + S + I = recognised tokens
    assert ref_tokens - c.substitutions - c.deletions == hyp_tokens - c.substitutions - c.insertions >= 0


@settings(max_examples=100, deadline=None)
@given(transcript=words)
def test_property_recognising_the_transcript_itself_has_no_errors(transcript):
    rec = [Word(t, k * 0.5, k * 0.5 + 0.4) for k, t in enumerate(transcript)]
    m = match_words(transcript, rec, len(transcript) * 0.5 + 0.1)
    assert m.counts.errors == 0
    assert all(w.flag == MATCHED for w in m.words if normalise_word(w.text))
