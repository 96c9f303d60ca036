"""pocketsphinx forced alignment: every failure is an AlignmentError (never TypeError or RuntimeError), a
failure leaves the shared decoder usable, callers record it as a rejection, and a lexicon adds words."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from speechalign.data import align as align_module
from speechalign.data.align import NO_PATH, AlignmentError, align_words
from speechalign.data.espeak import synthesize
from speechalign.reference import align

TEXT = "the birch canoe slid on the smooth planks today"


@pytest.fixture(scope="module")
def spoken():
    return synthesize(TEXT, "en-us+klatt4")


def test_a_clean_clip_aligns_within_50_ms_of_the_synthesised_times(spoken):
    words = align_words(spoken.audio, TEXT, spoken.sample_rate)
    assert [w.text for w in words] == TEXT.split()
    assert np.median([abs(a.start - b.start) for a, b in zip(words, spoken.words, strict=True)]) < 0.05


def test_a_clips_times_do_not_depend_on_what_the_process_aligned_before(spoken):
    """pocketsphinx adapts its cepstral mean after every utterance: a worker that aligned other clips (here
    very quiet ones, which move the mean most) gave other times for the same clip (the quick profile's sift
    corpus differed between two runs in 4 of 300 clips) until the mean was reset per clip."""
    align_module._decoder.cache_clear()
    fresh = align_words(spoken.audio, TEXT, spoken.sample_rate)
    for gain in (0.02, 0.05, 3.0):
        with contextlib.suppress(AlignmentError):
            align_words(spoken.audio * gain, TEXT, spoken.sample_rate)
    assert align_words(spoken.audio, TEXT, spoken.sample_rate) == fresh


def test_every_clip_starts_from_the_decoders_initial_cepstral_mean(monkeypatch):
    decoder = NoSegmentsDecoder()
    monkeypatch.setattr(align_module, "_decoder", lambda: (decoder, "40,3,-1"))
    for _ in range(2):
        with pytest.raises(AlignmentError):
            align_words(np.ones(1600, np.float32) * 0.1, "a b", 16000)
    assert decoder.cmn_set == ["40,3,-1", "40,3,-1"]


@pytest.mark.parametrize(
    ("audio", "message"),
    [(np.zeros(0, np.float32), "empty audio"), (np.full(16000, np.nan, np.float32), "NaN or infinity")],
)
def test_bad_audio_is_an_alignment_error_and_the_decoder_stays_usable(spoken, audio, message):
    with pytest.raises(AlignmentError, match=message):
        align_words(audio, TEXT, 16000)
    # before the fix, empty audio raised IndexError mid-utterance and every later call then failed
    assert len(align_words(spoken.audio, TEXT, spoken.sample_rate)) == len(TEXT.split())


def test_no_path_through_long_audio_is_an_alignment_error_recorded_by_the_reference_aligner():
    silence = np.zeros(16000 * 35, np.float32)  # > 30 s, where the TypeError was first seen
    long_text = " ".join([TEXT] * 12)
    with pytest.raises(AlignmentError, match=NO_PATH):
        align_words(silence, long_text, 16000)
    result = align("pocketsphinx", silence, 16000, long_text)
    assert result.words == () and result.error == NO_PATH


class NoSegmentsDecoder:
    """A decoder that finds a hypothesis but returns no segmentation (seg() None), as pocketsphinx does
    when its search finds no path; process_raw can be made to fail mid-utterance."""

    def __init__(self, fail_in_process: bool = False):
        self.fail_in_process = fail_in_process
        self.in_utterance = False
        self.cmn_set = []

    def lookup_word(self, word):
        return "AH"

    def set_align_text(self, text):
        pass

    def set_cmn(self, cmn):
        self.cmn_set.append(cmn)

    def start_utt(self):
        assert not self.in_utterance, "start_utt while an utterance is open"
        self.in_utterance = True

    def process_raw(self, data, no_search=False, full_utt=False):
        if self.fail_in_process:
            raise RuntimeError("Failed to process samples")

    def end_utt(self):
        self.in_utterance = False

    def hyp(self):
        return object()

    def seg(self):
        return None


def test_no_segmentation_is_an_alignment_error_not_a_type_error(monkeypatch):
    monkeypatch.setattr(align_module, "_decoder", lambda: (NoSegmentsDecoder(), "40,3,-1"))
    with pytest.raises(AlignmentError, match=NO_PATH):
        align_words(np.ones(1600, np.float32) * 0.1, "a b", 16000)


def test_a_decoder_failure_mid_utterance_still_ends_the_utterance(monkeypatch):
    decoder = NoSegmentsDecoder(fail_in_process=True)
    monkeypatch.setattr(align_module, "_decoder", lambda: (decoder, "40,3,-1"))
    with pytest.raises(RuntimeError):
        align_words(np.ones(1600, np.float32) * 0.1, "a b", 16000)
    assert not decoder.in_utterance


def test_a_lexicon_teaches_the_decoder_a_missing_word():
    text = "the blicket is on the table"  # a nonce word no dictionary has
    s = synthesize(text, "en-us+klatt4")
    with pytest.raises(AlignmentError, match="blicket"):
        align_words(s.audio, text, s.sample_rate)
    words = align_words(s.audio, text, s.sample_rate, lexicon={"blicket": "B L IH K AH T"})
    assert abs(words[1].start - s.words[1].start) < 0.05


def test_a_bad_pronunciation_is_an_alignment_error():
    with pytest.raises(AlignmentError, match="cannot add 'zzyzx'"):
        align_words(np.zeros(1600, np.float32), "zzyzx", 16000, lexicon={"zzyzx": "QQ XX"})
