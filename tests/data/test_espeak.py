"""espeak-ng synthesis: word times are exact, complete, ordered and reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.data.espeak import SynthesisError, spoken_tokens, synthesize, variant_gender

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
VOCABULARY = ["river", "seven", "garden", "Mary's", "don't", "twenty-one", "1990", "blue", "is", "a", "the"]


def median_f0(audio: np.ndarray, sample_rate: int) -> float:
    """Autocorrelation pitch over loud 40 ms frames; an independent check of the voice's register."""
    frame, hop = int(0.04 * sample_rate), int(0.02 * sample_rate)
    lo, hi = sample_rate // 400, sample_rate // 70
    estimates = []
    for i in range(0, len(audio) - frame, hop):
        x = audio[i : i + frame]
        if np.abs(x).max() < 0.05:
            continue
        ac = np.correlate(x, x, "full")[frame - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            estimates.append(sample_rate / lag)
    return float(np.median(estimates))


def test_words_follow_the_whitespace_tokens_of_the_text():
    text = "Hello world, this is twenty-one year old Mary's test. It's 1990, don't worry!"
    s = synthesize(text, voice="en-us+klatt4")
    assert [w.text for w in s.words] == [
        "Hello", "world", "this", "is", "twenty-one", "year", "old",
        "Mary's", "test", "It's", "1990", "don't", "worry",
    ]  # fmt: skip
    assert s.sample_rate == 22050
    assert s.audio.dtype == np.float32 and s.audio.ndim == 1
    assert np.abs(s.audio).max() <= 1.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12), st.sampled_from(["klatt", "f2"]))
def test_word_times_are_complete_ordered_and_inside_the_audio(words, variant):
    text = " ".join(words) + "."
    s = synthesize(text, voice=f"en-us+{variant}")
    assert [w.text for w in s.words] == [t for _, _, t in spoken_tokens(text)] == words
    for w in s.words:
        assert 0.0 <= w.start < w.end <= s.duration
    for a, b in zip(s.words, s.words[1:], strict=False):
        assert a.end <= b.start
    assert all(p.start <= p.end for p in s.phonemes)
    assert all(p.start < p.end for p in s.phonemes if not p.name.startswith("_"))


def test_word_boundaries_match_inserted_silences_to_the_millisecond():
    # 500 ms of silence between words: the Klatt voices write exact zeros there, so the audio alone says
    # where each word begins and ends.
    s = synthesize(SENTENCE, voice="en-us+klatt4", word_gap=50)
    sr, audio = s.sample_rate, s.audio
    assert len(s.words) == 13
    for previous, word in zip(s.words, s.words[1:], strict=False):
        gap = audio[int(previous.end * sr) : int(word.start * sr)]
        assert word.start - previous.end > 0.45
        assert np.abs(gap).max() == 0.0
        loud = np.flatnonzero(np.abs(audio[int(previous.end * sr) :]) > 1e-3)
        onset = (int(previous.end * sr) + loud[0]) / sr
        assert abs(onset - word.start) < 0.002
        before = np.flatnonzero(np.abs(audio[: int(word.start * sr) - int(0.05 * sr)]) > 1e-3)
        assert abs((before[-1] + 1) / sr - previous.end) < 0.005


def test_synthesis_is_a_pure_function_of_its_arguments():
    first = synthesize(SENTENCE, voice="en-us+klatt")
    synthesize("Something else entirely, to disturb any state.", voice="en-us+f3", rate=300)
    again = synthesize(SENTENCE, voice="en-us+klatt")
    assert np.array_equal(first.audio, again.audio)
    assert first.words == again.words


def test_prosody_parameters_change_duration_and_pitch():
    base = synthesize(SENTENCE, voice="en-us+klatt4")
    fast = synthesize(SENTENCE, voice="en-us+klatt4", rate=300)
    high = synthesize(SENTENCE, voice="en-us+klatt4", pitch=95)
    assert fast.duration < 0.75 * base.duration
    assert median_f0(high.audio, high.sample_rate) > 1.3 * median_f0(base.audio, base.sample_rate)


def test_female_klatt_variants_speak_in_a_female_register():
    male = synthesize(SENTENCE, voice="en-us+klatt4")
    assert variant_gender("klatt4") == "male"
    for variant in ("sa-klatt-female1", "sa-klatt-female2", "sa-klatt-female3"):
        assert variant_gender(variant) == "female"
        female = synthesize(SENTENCE, voice=f"en-us+{variant}")
        assert median_f0(female.audio, female.sample_rate) > 180 > median_f0(male.audio, male.sample_rate)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "   "}, "empty"),
        ({"text": "hello", "voice": "xx-nowhere"}, "no voice"),
    ],
)
def test_bad_requests_raise_clear_errors(kwargs, message):
    with pytest.raises(SynthesisError, match=message):
        synthesize(**kwargs)
