"""Embedded corpora: deterministic, valid, with located answers, speaker-disjoint splits, and synthesised
word times that agree with an independent forced aligner (pocketsphinx) within 50 ms median."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from speechalign.data.align import AlignmentError, align_words
from speechalign.data.corpora import build_corpus
from speechalign.data.espeak import spoken_tokens, synthesize
from speechalign.data.manifest import invalid_reason, read_manifest
from speechalign.text import natural_sentences, normalise_token, number_words

PARAMS = yaml.safe_load((Path(__file__).parent / "params_fixture.yaml").read_text())


def small_params(**sizes):
    params = {**PARAMS, "piper_voices": []}
    params["sqa"] = {**PARAMS["sqa"], "items": 3}
    params["paralinguistic"] = {**PARAMS["paralinguistic"], "sentences_per_style": 1}
    params["sift"] = {**PARAMS["sift"], "utterances": 12}
    params.update(sizes)
    return params


@pytest.mark.parametrize("corpus", ["sqa", "paralinguistic", "sift"])
def test_corpus_is_deterministic_and_valid(tmp_path, corpus):
    a = build_corpus(corpus, small_params(), 7, tmp_path / "a")
    b = build_corpus(corpus, small_params(), 7, tmp_path / "b", workers=2)
    ua, ub = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert a == b
    assert [(u.id, u.text, u.words, u.speaker) for u in ua] == [
        (u.id, u.text, u.words, u.speaker) for u in ub
    ]
    for u, v in zip(ua, ub, strict=True):
        assert np.array_equal(sf.read(u.audio_path)[0], sf.read(v.audio_path)[0])
        assert invalid_reason(u, max_duration=40) is None
        assert [w.text for w in u.words] == [t for _, _, t in spoken_tokens(u.text)]


def test_sqa_answers_are_located_in_the_passage_words(tmp_path):
    build_corpus("sqa", small_params(), 0, tmp_path / "sqa")
    for u in read_manifest(tmp_path / "sqa"):
        first, last = u.answer_span
        spoken = " ".join(normalise_token(w.text) for w in u.words[first:last])
        assert spoken == " ".join(normalise_token(t) for t in u.answer.split())
        assert 10 <= u.duration <= 40 and u.question.endswith("?")


def test_paralinguistic_splits_are_speaker_disjoint_and_balanced(tmp_path):
    build_corpus("paralinguistic", small_params(), 0, tmp_path / "p")
    utts = read_manifest(tmp_path / "p")
    train = {u.speaker for u in utts if u.split == "train"}
    test = {u.speaker for u in utts if u.split == "test"}
    assert test == {"espeak-klatt4", "espeak-sa-klatt-female2"} and not train & test
    assert {u.emotion for u in utts} == {"neutral", "happy", "angry", "sad"}
    assert {u.gender for u in utts if u.split == "test"} == {"male", "female"}


def test_sift_sentences_are_distinct_and_enough_for_the_small_profile():
    sentences = natural_sentences(5, 20)
    assert len(sentences) >= 2400 and len(set(sentences)) == len(sentences)
    assert len({s.split()[0] for s in sentences}) > 300  # not one template


def test_unknown_test_voice_is_a_clear_error(tmp_path):
    params = small_params(paralinguistic={"sentences_per_style": 1, "test_voices": ["espeak-nobody"]})
    with pytest.raises(Exception, match="espeak-nobody"):
        build_corpus("paralinguistic", params, 0, tmp_path / "p")


def test_synthesised_word_times_agree_with_pocketsphinx_within_50_ms():
    errors, aligned_sentences = [], 0
    for i, text in enumerate(natural_sentences(6, 14)[:60:4]):
        voice = ["en-us+klatt4", "en-us+sa-klatt-female1"][i % 2]
        s = synthesize(text, voice)
        try:
            aligned = align_words(s.audio, text, s.sample_rate)
        except AlignmentError:  # out-of-dictionary words: the corpora reject these too
            continue
        aligned_sentences += 1
        errors += [abs(a.start - b.start) for a, b in zip(s.words, aligned, strict=True)]
    assert aligned_sentences >= 8
    assert np.median(errors) < 0.05


def test_number_words():
    assert [number_words(n) for n in (0, 13, 21, 40, 105, 1990)] == [
        "zero", "thirteen", "twenty-one", "forty", "one hundred five", "one thousand nine hundred ninety",
    ]  # fmt: skip


def test_no_voice_of_the_paralinguistic_benchmark_is_in_sift_training_on_the_quick_params():
    """The bench's paralinguistic items are the paralinguistic corpus's test utterances; SIFT must never train
    on their voices (its sp targets name the speaker's gender and emotion)."""
    from speechalign.data.corpora import (
        plan_paralinguistic,
        plan_sift,
        styles_from_params,
        voices_from_params,
    )
    from speechalign.params import load_params

    params = load_params(Path(__file__).resolve().parents[2], {"profile": "quick"})
    data, seed = params["data"], params["seed"]
    voices, styles = voices_from_params(data), styles_from_params(data)
    evaluation = {
        p.voice.speaker for p in plan_paralinguistic(data, seed, voices, styles) if p.split == "test"
    }
    training = {p.voice.speaker for p in plan_sift(data, seed, voices, styles)}
    assert evaluation == set(data["paralinguistic"]["test_voices"])
    assert not evaluation & training
    assert {"male", "female"} <= {v.gender for v in voices if v.speaker in training}  # both genders remain


def test_paralinguistic_test_utterances_join_distinct_sentences_and_training_ones_hold_one():
    """ALAS scores the test split: each test utterance is ``test_sentences`` sentences (so the uniform path
    cannot guess its rhythm), no sentence is spoken twice, and training utterances stay single sentences."""
    from speechalign.data.corpora import plan_paralinguistic, styles_from_params, voices_from_params

    params = small_params(paralinguistic={**PARAMS["paralinguistic"], "sentences_per_style": 2})
    plans = plan_paralinguistic(params, 0, voices_from_params(params), styles_from_params(params))
    sentences = {p.id: [s for s in p.text.replace("!", ".").replace("?", ".").split(".") if s.strip()]
                 for p in plans}  # fmt: skip
    test = [p for p in plans if p.split == "test"]
    assert test and all(len(sentences[p.id]) == 5 for p in test)
    assert all(len(sentences[p.id]) == 1 for p in plans if p.split == "train")
    spoken = [s.strip() for p in plans for s in sentences[p.id]]
    assert len(spoken) == len(set(spoken))
