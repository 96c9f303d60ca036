"""The respond filter and the ALAS scoring stage on tiny random models: every pair recorded with its
decision, bad inputs recorded as rejections, scores consistent with speechalign.metrics.alas."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_models import FakeSbert, tone, write_utterance

from speechalign.alas.measure import figure_layers, score_corpus, score_utterance, summarise, word_char_spans
from speechalign.alas.respond import agreement, prepare_runs, respond_corpus
from speechalign.backends import BackendInputError

PROMPTS = {"sqa": "{question}? Answer in 10-15 words."}
WORDS_A = [("the", 0.1, 0.3), ("cat", 0.35, 0.7), ("sat", 0.8, 1.2)]
WORDS_B = [("a", 0.05, 0.2)] + [(f"w{i}", 0.2 + 0.1 * i, 0.28 + 0.1 * i) for i in range(18)]


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    folder = tmp_path_factory.mktemp("utts")
    return [
        write_utterance(folder, "u0-short-text", tone(1.4), "the cat sat", WORDS_A, "What sat", "cat"),
        write_utterance(  # transcript (19 words, more tokens) longer than the audio (25 positions)
            folder, "u1-long-text", tone(2.1), " ".join(w for w, _, _ in WORDS_B), WORDS_B, "Who?", "a"
        ),
        write_utterance(
            folder, "u2-nan", np.full(16000, np.nan, np.float32), "nan", [("nan", 0, 1)], "Q", "a"
        ),
        write_utterance(folder, "u3-empty", tone(1.0), "", [], "Q", "a"),
        write_utterance(folder, "u4-no-question", tone(1.0), "hello", [("hello", 0.1, 0.5)]),
    ]


@pytest.fixture(scope="module")
def responses(tiny_composed, utterances):
    return respond_corpus(
        tiny_composed, utterances, "sqa", PROMPTS, FakeSbert(), threshold=0.5, max_new_tokens=4, batch_size=4
    )


def test_every_pair_is_recorded_with_its_decision(responses, utterances):
    assert responses["utterance"].tolist() == [u.id for u in utterances]
    ok = responses[responses["status"] == "ok"]
    assert ok["utterance"].tolist() == ["u0-short-text", "u1-long-text"]
    assert (ok["kept"] == (ok["similarity"] >= 0.5)).all()
    assert ok["similarity"].between(-1, 1).all()
    rejected = responses.set_index("utterance")["reason"]
    assert "NaN" in rejected["u2-nan"]
    assert "empty transcript" in rejected["u3-empty"]
    assert "needs a question" in rejected["u4-no-question"]
    assert not responses.loc[responses["status"] == "rejected", "kept"].any()


def test_agreement_identical_answers_agree_and_empty_ones_do_not():
    sim = agreement(FakeSbert(), ["Paris is the capital.", "", "xyz"], ["Paris is the capital.", "", "qqq"])
    assert sim[0] == pytest.approx(1.0, abs=1e-6)
    assert sim[1] == 0.0
    assert sim[2] < 0.5


def test_threshold_decides(tiny_composed, utterances):
    table = respond_corpus(tiny_composed, utterances[:2], "sqa", PROMPTS, FakeSbert(), 1.01, 4, 4)
    assert not table["kept"].any()
    table = respond_corpus(tiny_composed, utterances[:2], "sqa", PROMPTS, FakeSbert(), -1.0, 4, 4)
    assert table["kept"].all()


def test_scores_every_answered_utterance_and_matches_speechalign_alas(tiny_composed, utterances, responses):
    table, rejected, examples = score_corpus(
        tiny_composed, utterances, responses, "sqa", PROMPTS, "cosine", n_examples=1
    )
    layers = tiny_composed.num_hidden_states
    assert len(table) == 2 * layers
    assert {r["utterance"] for r in rejected} == {"u2-nan", "u3-empty", "u4-no-question"}
    fields = {"reference_tokens", "uniform", "layers", "cosine/paths", "cosine/similarity"}
    assert set(examples) == {f"u0-short-text/{field}" for field in fields}
    shown = examples["u0-short-text/layers"]
    assert shown[0] == 0 and shown[-1] == layers - 1
    n_audio, n_text = examples["u0-short-text/cosine/paths"].shape[1], table.iloc[0]["n_text"]
    assert examples["u0-short-text/cosine/similarity"].shape == (len(shown), n_audio, n_text)
    long_text = table[table["utterance"] == "u1-long-text"].iloc[0]
    assert long_text["n_text"] > long_text["n_audio"]
    kept = responses.set_index("utterance")["kept"]
    assert (table["kept"] == table["utterance"].map(kept)).all()
    calibrated = table["alas_tokens"] / table["uniform_tokens"]
    assert np.allclose(table["calibrated_tokens"], calibrated, equal_nan=True)

    # the summary's pooled score per layer is the utterances' summed distance counts over their summed rows
    results = [
        score_utterance(tiny_composed, prepare_runs(tiny_composed, u, "sqa", PROMPTS), "cosine")
        for u in utterances[:2]
    ]
    total = results[0].counts + results[1].counts
    pooled_tokens = total.distance_tokens / total.n_rows
    pooled_calibrated_words = (total.distance_words / total.n_rows) / (
        total.uniform_distance_words / total.n_rows
    )
    summary = summarise(table, responses, rejected, {"model": "tiny"}, n_boot=200, seed=0)
    assert summary["all"]["utterances"] == 2
    for entry in summary["all"]["layers"]:
        assert entry["alas_tokens"] == pytest.approx(pooled_tokens[entry["layer"]])
        assert entry["calibrated_words"] == pytest.approx(
            pooled_calibrated_words[entry["layer"]], nan_ok=True
        )
        low, high = entry["alas_tokens_ci"]
        assert low <= entry["alas_tokens"] + 1e-9 and entry["alas_tokens"] <= high + 1e-9
    assert summary["responses"]["answered"] == 2


def test_nan_in_hidden_states_is_recorded_not_scored(tiny_composed, utterances, responses, monkeypatch):
    original = tiny_composed.prefill

    def poisoned(run):
        states = original(run)
        if run.kind == "audio":
            states[3, 0, 0] = float("nan")
        return states

    monkeypatch.setattr(tiny_composed, "prefill", poisoned)
    table, rejected, _ = score_corpus(tiny_composed, utterances[:2], responses, "sqa", PROMPTS, "cosine")
    assert table.empty
    assert all("NaN" in r["reason"] for r in rejected) and len(rejected) == 2


def test_word_char_spans_rejects_words_not_in_the_transcript():
    with pytest.raises(BackendInputError, match="not in the transcript"):
        word_char_spans("the cat", ["the", "dog"])


def test_an_aligner_reference_is_used_and_its_failures_recorded(tiny_composed, utterances, responses):
    from speechalign.reference import ReferenceRecord, TimedWord
    from speechalign.reference.matching import ErrorCounts

    def record(uid, words, error=None):
        timed = tuple(TimedWord(w, s, e, "matched") for w, s, e in words)
        return ReferenceRecord(
            uid, "fake", timed, ErrorCounts(reference_words=len(words)), "", 1.0, error=error
        )

    shifted = [(w, s + 0.3, e + 0.3) for w, s, e in WORDS_A]  # later times: a different reference path
    records = {
        "u0-short-text": record("u0-short-text", shifted),
        "u1-long-text": record("u1-long-text", [], "boom"),
    }
    table, rejected, _ = score_corpus(
        tiny_composed, utterances[:2], responses, "sqa", PROMPTS, "cosine", "fake", reference_records=records
    )
    oracle, _, _ = score_corpus(tiny_composed, utterances[:1], responses, "sqa", PROMPTS, "cosine")
    assert set(table["utterance"]) == {"u0-short-text"} and set(table["reference"]) == {"fake"}
    assert rejected == [{"utterance": "u1-long-text", "reason": "the fake reference failed here: boom"}]
    assert not np.allclose(table["uniform_tokens"].to_numpy(), oracle["uniform_tokens"].to_numpy())
    with pytest.raises(BackendInputError, match="reference file"):
        score_corpus(tiny_composed, utterances, responses, "sqa", PROMPTS, "cosine", reference="whisperx")


@pytest.mark.parametrize(("n_layers", "expected"), [(31, [0, 8, 15, 22, 30]), (3, [0, 1, 2]), (1, [0])])
def test_figure_layers_are_the_embeddings_quarters_and_last(n_layers, expected):
    assert figure_layers(n_layers) == expected


def test_several_normalisations_from_one_prefill_and_both_aggregations(tiny_composed, utterances, responses):
    names = ["corpus-centred", "cosine"]  # a fitted one: statistics from a first pass over the scored pairs
    table, _, examples = score_corpus(
        tiny_composed, utterances[:2], responses, "sqa", PROMPTS, names, n_examples=1, components=2
    )
    layers = tiny_composed.num_hidden_states
    assert table.groupby("normalisation").size().to_dict() == dict.fromkeys(names, 2 * layers)
    assert {"u0-short-text/corpus-centred/paths", "u0-short-text/cosine/similarity"} <= set(examples)
    assert table["hub_share"].between(0, 1).all()
    summary = summarise(table, responses, [], {}, n_boot=50, seed=0, headline="corpus-centred")
    assert summary["normalisation"] == "corpus-centred"
    assert summary["all"] == summary["by_normalisation"]["corpus-centred"]["all"]
    raw = table[table["normalisation"] == "cosine"]
    for entry in summary["by_normalisation"]["cosine"]["all"]["layers"]:
        per_utterance = raw[raw["layer"] == entry["layer"]]
        # the paper's average over utterances vs our ratio of sums (weights: audio positions)
        assert entry["alas_tokens_mean"] == pytest.approx(per_utterance["alas_tokens"].mean())
        weights = per_utterance["n_audio"] / per_utterance["n_audio"].sum()
        assert entry["alas_tokens"] == pytest.approx((per_utterance["alas_tokens"] * weights).sum())


def test_the_paper_profile_asks_the_alas_authors_instructions_and_no_prompt_claims_figure_4():
    """Issue 20 item 7: the paper profile uses the ALAS authors' released Qwen2-Audio instructions verbatim;
    the params no longer call the embedded profiles' own instructions the paper's Figure 4."""
    from pathlib import Path

    from speechalign.params import load_params

    prompts = load_params(".", overrides={"profile": "paper"})["backends"]["prompts"]
    assert prompts["sqa"] == "{question}. Answer the  question as short as possible (in 10-15 words)"
    assert prompts["emotion"].startswith("classify the emotion of the speaker in only one word")
    defaults = Path("params/defaults.yaml").read_text(encoding="utf-8")
    assert "The ALAS paper's instructions (its Figure 4)" not in defaults


@pytest.fixture
def sqa_corpus(tmp_path):
    """A two-utterance corpus folder named sqa (the folder's name is the corpus: its task, its prompt)."""
    from speechalign.data.manifest import write_manifest

    audio = tmp_path / "audio"
    audio.mkdir()
    long_text = " ".join(w for w, _, _ in WORDS_B)
    write_manifest(
        tmp_path / "sqa",
        [
            write_utterance(audio, "u0", tone(1.5), "the cat sat", WORDS_A, "Who sat?", "the cat"),
            write_utterance(audio, "u1", tone(2.1), long_text, WORDS_B, "Who?", "a"),
        ],
    )
    return tmp_path / "sqa"


@pytest.fixture
def cli(monkeypatch, tiny_composed, sqa_corpus):
    """`speechalign alas <step>` on ``sqa_corpus`` with the tiny model and letter-count SBERT; returns a
    function of the step and its other arguments (``threshold``: params alas.threshold)."""
    import sentence_transformers

    from speechalign import backends
    from speechalign.cli import main
    from speechalign.params import load_params

    monkeypatch.setattr(backends, "load_backend", lambda spec, seed: tiny_composed)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", lambda *a, **k: FakeSbert())
    defaults = load_params(".")["alas"] | {"split": None, "max_utterances": None, "normalisation": "cosine"}

    def run(step, *extra, threshold=defaults["threshold"]):
        alas = json.dumps(defaults | {"threshold": threshold})
        common = ["--model", "composed-untrained", "--corpus", str(sqa_corpus), "--seed", "0"]
        return main(["alas", step, *common, "--alas-params", alas, *map(str, extra)])

    return run


def outputs(folder):
    return ["--out", folder / "t.parquet", "--summary", folder / "s.json"]


def test_measure_writes_what_respond_then_score_write(tmp_path, cli):
    """`speechalign alas measure` (the workflow's one job per model and corpus) against the two steps run
    apart, through the CLI (backend and SBERT stubbed: the tiny model, letter counts)."""
    import pandas as pd

    apart, together = tmp_path / "apart", tmp_path / "together"
    assert cli("respond", "--out", apart / "r.parquet") == 0
    assert cli("score", "--responses", apart / "r.parquet", *outputs(apart)) == 0
    assert cli("measure", "--responses", together / "r.parquet", *outputs(together)) == 0
    for name in ("r.parquet", "t.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(together / name), pd.read_parquet(apart / name))
    assert (together / "s.json").read_text() == (apart / "s.json").read_text()
    assert len(pd.read_parquet(together / "t.parquet")) > 0


def test_measure_reuses_cached_responses_only_when_what_makes_them_is_the_same(tmp_path, cli, monkeypatch):
    import pandas as pd

    from speechalign.alas import respond

    cache, first, again = tmp_path / "cache", tmp_path / "first", tmp_path / "again"
    assert cli("measure", "--cache", cache, "--responses", first / "r.parquet", *outputs(first)) == 0
    assert len(list(cache.glob("*.parquet"))) == 1

    def no_generation(*args, **kwargs):
        raise AssertionError("answered again")

    monkeypatch.setattr(respond, "respond_corpus", no_generation)
    assert cli("measure", "--cache", cache, "--responses", again / "r.parquet", *outputs(again)) == 0
    for name in ("r.parquet", "t.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(again / name), pd.read_parquet(first / name))
    with pytest.raises(AssertionError, match="answered again"):  # another threshold: other decisions
        cli("measure", "--cache", cache, "--responses", again / "r.parquet", *outputs(again), threshold=0.1)
