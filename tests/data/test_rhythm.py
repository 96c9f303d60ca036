"""Rhythm the uniform path cannot guess: the phrase plan covers the text, keeps the item's duration, and
the word times of speech spoken phrase by phrase stay exact (shifted by each phrase's start)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from speechalign.data.espeak import spoken_tokens, synthesize
from speechalign.data.manifest import Word
from speechalign.data.rhythm import phrase_texts, plan_rhythm, scaled_rate, speak_with_rhythm

CFG = {
    "corpora": ["sqa"],
    "phrase_words": [2, 4],
    "tempo_trend": 3.0,
    "rate_factor": 1.5,
    "phrase_pause_s": [0.1, 0.3],
    "sentence_pause_s": [0.4, 0.8],
}
TEXT = "Anna lives in Boston. -- She works as a nurse and keeps a cat. Her favourite colour is green."


def test_the_plan_covers_every_word_cuts_at_sentence_ends_and_keeps_the_duration():
    plan = plan_rhythm(TEXT, CFG, random.Random(3), wpm=170)
    phrases = phrase_texts(TEXT, plan)
    assert " ".join(phrases) == " ".join(TEXT.split())
    assert not any(p.startswith("--") for p in phrases)  # espeak would speak nothing at a phrase's start
    assert any(p.endswith("Boston. --") for p in phrases)  # a sentence end ends a phrase ("--" joins it)
    assert plan[-1]["pause"] == 0.0
    steady = len(TEXT.split()) * 60 / 170
    spoken = sum(p["words"] * 60 / (170 * p["rate"]) for p in plan) + sum(p["pause"] for p in plan)
    assert spoken == pytest.approx(steady, rel=0.01)
    assert len({p["rate"] for p in plan}) == len(plan)  # every phrase at its own rate


def test_phrases_are_placed_with_their_pauses_and_word_times_shifted():
    def fake_speaker(text, factor):  # 0.5 s of audio per phrase at 100 Hz, one word per 0.1 s from 0.05 s
        words = [Word(w, 0.05 + 0.1 * i, 0.1 + 0.1 * i) for i, w in enumerate(text.split())]
        return np.ones(50, np.float32), 100, words

    plan = [{"words": 2, "rate": 1.0, "pause": 0.3}, {"words": 1, "rate": 2.0, "pause": 0.0}]
    audio, rate, words = speak_with_rhythm("a b c", plan, fake_speaker)
    assert rate == 100 and len(audio) == 50 + 30 + 50
    assert (audio[50:80] == 0).all()  # the pause is silence
    assert [w.text for w in words] == ["a", "b", "c"]
    # the second phrase starts at 0.5 + 0.3 s
    np.testing.assert_allclose([(w.start, w.end) for w in words], [(0.05, 0.1), (0.15, 0.2), (0.85, 0.9)])


def test_espeak_speech_with_rhythm_keeps_every_word_inside_the_audio_and_in_order():
    plan = plan_rhythm(TEXT, CFG, random.Random(0), wpm=170)

    def speaker(text, factor):
        s = synthesize(text, "en-us+klatt4", rate=scaled_rate(170, factor))
        return s.audio, s.sample_rate, s.words

    audio, rate, words = speak_with_rhythm(TEXT, plan, speaker)
    assert [w.text for w in words] == [t for _, _, t in spoken_tokens(TEXT)]
    starts, ends = np.array([w.start for w in words]), np.array([w.end for w in words])
    assert (np.diff(starts) > 0).all() and (starts[1:] >= ends[:-1] - 1e-9).all()
    assert ends[-1] <= len(audio) / rate + 1e-9
    # the planned silence lies between the phrase's last word and the next phrase's first word
    first_gap = words[plan[0]["words"]].start - words[plan[0]["words"] - 1].end
    assert first_gap >= plan[0]["pause"]


def test_rates_stay_where_espeak_times_are_exact():
    assert scaled_rate(170, 10.0) == 400 and scaled_rate(170, 0.1) == 80 and scaled_rate(170, 1.5) == 255
