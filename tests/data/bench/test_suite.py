"""The embedded benchmark suite: written questions are right and distinct; the bench corpus is
deterministic, valid, spoken by several voices under 30 s, built from the sqa / paralinguistic test splits,
and rejects bad items with reasons."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.data.bench.questions import (
    DAYS,
    MCQ_SUBSETS,
    agreement_requests,
    arithmetic,
    ifeval_question,
    mcq_question,
    units,
)
from speechalign.data.bench.suite import build_bench
from speechalign.data.corpora import build_corpus
from speechalign.data.manifest import read_manifest, read_rejects
from speechalign.metrics.bench.ifeval import rule_problem
from speechalign.metrics.bench.items import LETTERS, invalid_reason, read_items
from speechalign.metrics.bench.scorers import score_mcq
from speechalign.text import number_words

ROOT = Path(__file__).resolve().parents[3]
WORDS_TO_NUMBER = {number_words(n): n for n in range(10000)}
BENCH = {
    "mcq": 6,
    "ifeval": 4,
    "agreement": 3,
    "sqa": None,
    "paralinguistic": 2,
    "instructions": {
        "mcq": "Answer with the letter.",
        "sqa": "{question} Answer briefly.",
        "paralinguistic": "{question}\n{options}\nAnswer with the letter.",
    },
}


def data_params(**bench):
    params = yaml.safe_load((ROOT / "tests" / "data" / "params_fixture.yaml").read_text())
    params["piper_voices"] = []  # espeak only: fast
    params["sqa"] = {**params["sqa"], "items": 4, "test_share": 0.5}
    params["paralinguistic"] = {**params["paralinguistic"], "sentences_per_style": 1}
    params["bench"] = {**BENCH, **bench}
    return params


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    for corpus in ("sqa", "paralinguistic"):
        build_corpus(corpus, data_params(), 3, root / corpus)
    return root


def build(sources, out, seed=0, **bench):
    srcs = {"sqa": sources / "sqa", "paralinguistic": sources / "paralinguistic"}
    return build_bench(data_params(**bench), seed, out, **srcs)


# ---- written questions ----


@given(st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_arithmetic_and_units_answers_are_right_and_distractors_wrong(seed):
    rng = random.Random(seed)
    question, answer, wrong = arithmetic(rng)
    words = question.removeprefix("What is ").removesuffix("?")
    for op, fn in (("plus", int.__add__), ("minus", int.__sub__), ("times", int.__mul__)):
        if f" {op} " in words:
            a, b = (WORDS_TO_NUMBER[w] for w in words.split(f" {op} "))
            assert WORDS_TO_NUMBER[answer] == fn(a, b)
    assert len(set(wrong)) == 3 and answer not in wrong
    _, answer, wrong = units(rng)
    assert len(set(wrong)) == 3 and answer not in wrong


@given(st.integers(0, 10_000), st.sampled_from(sorted(MCQ_SUBSETS)))
@settings(max_examples=80, deadline=None)
def test_every_mcq_has_four_distinct_options_and_its_letter_scores(seed, subset):
    q = mcq_question(random.Random(seed), subset)
    assert len(q.choices) == 4 and len(set(q.choices)) == 4
    assert q.text.count("Option ") == 4
    correct = q.choices[LETTERS.index(q.answer)]
    assert score_mcq(q.answer, q.answer, 4).score == 1.0
    assert score_mcq(correct, q.answer, 4, q.choices).score == 1.0  # the option's text names it too


def test_calendar_day_arithmetic_by_hand():
    rng = random.Random(0)
    for _ in range(40):
        q = mcq_question(rng, "calendar")
        if "days after" in q.text or "day after" in q.text:
            words = q.text.split("?")[0].split()
            k, start = WORDS_TO_NUMBER[words[3]], DAYS.index(words[-1])
            assert q.choices[LETTERS.index(q.answer)] == DAYS[(start + k) % 7]


@given(st.integers(0, 10_000))
@settings(max_examples=80, deadline=None)
def test_ifeval_questions_have_valid_rules_and_speak_every_constraint(seed):
    q = ifeval_question(random.Random(seed))
    assert 1 <= len(q.rules) <= 2 and all(rule_problem(r) is None for r in q.rules)
    assert (
        q.subset == "combined"
        if len(q.rules) == 2
        else q.subset in ("length", "case", "lexical", "punctuation", "format")
    )
    assert {"detectable_format:json_format", "punctuation:no_comma"} - {r["id"] for r in q.rules}
    assert q.text[-1] in ".?" and "  " not in q.text


def test_agreement_requests_are_distinct():
    requests = agreement_requests()
    assert len(requests) == len(set(requests)) == 80


# ---- the bench corpus ----


def test_bench_is_deterministic_valid_and_multi_voice(sources, tmp_path):
    card = build(sources, tmp_path / "a" / "bench")
    again = build(sources, tmp_path / "b" / "bench")
    a = read_items(tmp_path / "a" / "bench" / "items.jsonl")
    b = read_items(tmp_path / "b" / "bench" / "items.jsonl")
    fields = [(i.id, i.task, i.subset, i.spoken, i.prompt, i.references, i.choices) for i in a]
    assert fields == [(i.id, i.task, i.subset, i.spoken, i.prompt, i.references, i.choices) for i in b]
    assert card == again
    written = [i for i in a if i.task in ("mcq", "ifeval", "agreement")]
    assert [i.task for i in written] == ["mcq"] * 6 + ["ifeval"] * 4 + ["agreement"] * 3
    for x, y in zip(written, [i for i in b if i.task in ("mcq", "ifeval", "agreement")], strict=True):
        assert np.array_equal(sf.read(x.audio)[0], sf.read(y.audio)[0])
    assert all(invalid_reason(i) is None for i in a)
    utts = read_manifest(tmp_path / "a" / "bench")
    assert len({u.voice for u in utts}) >= 5 and max(u.duration for u in utts) < 30
    assert {u.id for u in utts} == {i.id for i in written}
    assert card["items"]["mcq"] == {s: 1 for s in MCQ_SUBSETS}
    assert (tmp_path / "a" / "bench" / "rejects.jsonl").exists()


def test_bench_reuses_the_sqa_and_paralinguistic_test_splits(sources, tmp_path):
    build(sources, tmp_path / "bench")
    items = read_items(tmp_path / "bench" / "items.jsonl")
    sqa_test = {u.id: u for u in read_manifest(sources / "sqa") if u.split == "test"}
    sqa_items = [i for i in items if i.task == "sqa"]
    assert {i.metadata["utterance"] for i in sqa_items} == set(sqa_test)  # sqa: null = every test passage
    for i in sqa_items:
        u = sqa_test[i.metadata["utterance"]]
        assert (i.audio, i.spoken, i.references) == (u.audio_path, u.text, (u.answer,))
        assert i.prompt == f"{u.question} Answer briefly."
    para = {u.id: u for u in read_manifest(sources / "paralinguistic")}
    para_items = [i for i in items if i.task == "paralinguistic"]
    assert len(para_items) == 4  # 2 utterances x (gender, prosody)
    for i in para_items:
        u = para[i.metadata["utterance"]]
        assert u.split == "test"
        truth = u.gender if i.subset == "gender" else u.emotion
        assert i.choices[LETTERS.index(i.reference)] == truth
        assert f"{i.reference}. {truth}" in i.prompt


def test_items_file_stores_paths_relative_to_the_bench_folder(sources, tmp_path):
    build(sources, tmp_path / "corpora" / "bench")
    rows = [
        json.loads(line) for line in (tmp_path / "corpora" / "bench" / "items.jsonl").read_text().splitlines()
    ]
    audio = {r["task"]: r["audio"] for r in rows}
    assert audio["mcq"].startswith("audio/bench-mcq-")
    assert not Path(audio["sqa"]).is_absolute() and ".tmp" not in audio["sqa"]


def test_too_long_items_are_rejected_with_the_reason(sources, tmp_path):
    params = data_params()
    params["max_duration"] = 6.0  # mcq questions with four spoken options take longer
    srcs = {"sqa": sources / "sqa", "paralinguistic": sources / "paralinguistic"}
    card = build_bench(params, 0, tmp_path / "bench", **srcs)
    rejects = read_rejects(tmp_path / "bench")
    assert any(r.reason == "audio longer than 6 s" and r.id.startswith("bench-mcq-") for r in rejects)
    assert card["rejected"] == len(rejects)
    kept = {i.id for i in read_items(tmp_path / "bench" / "items.jsonl")}
    assert not kept & {r.id for r in rejects}
    assert not [p for p in (tmp_path / "bench" / "audio").iterdir() if p.stem in {r.id for r in rejects}]


def test_too_many_agreement_items_is_a_clear_error(sources, tmp_path):
    with pytest.raises(Exception, match="data.bench.agreement=81"):
        build(sources, tmp_path / "bench", agreement=81)
    assert not (tmp_path / "bench").exists()
