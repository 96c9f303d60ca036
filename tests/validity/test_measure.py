"""ALAS validity on speech LLMs: the noiseless oracle must score far below the uniform diagonal and the
mismatched-transcript control at or above it, under the default (data-chosen) normalisation. Tiny random
models for the code path; one ``models`` test on the real composed model and the embedded SQA corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import tone, write_utterance

from speechalign.backends import Projector, ProjectorConfig
from speechalign.validity.controls import MixedProjector, conditions
from speechalign.validity.measure import validate_corpus
from speechalign.validity.separation import pooled, ranking, separation, timing_check

PROMPTS = {"sqa": "{question}? Answer in 10-15 words."}
NORMALISATIONS = ["cosine", "centred", "corpus-centred", "pc-removed", "standardised"]


def words(text: str, seconds: float, start: float = 0.1):
    """Evenly timed words over ``[start, seconds - 0.1]``."""
    tokens = text.split()
    edges = np.linspace(start, seconds - 0.1, len(tokens) + 1)
    return [(w, float(a), float(b)) for w, a, b in zip(tokens, edges[:-1], edges[1:], strict=True)]


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validity")
    texts = [
        "the quick brown fox jumps over the lazy dog near the river bank",
        "mary works as a teacher in a small town by the sea",
        "seven cities were visited by the travelling band last summer",
    ]
    out = []
    for i, (text, seconds) in enumerate(zip(texts, (3.2, 2.8, 3.6), strict=True)):
        wave = tone(seconds) * (1 + 0.3 * i)
        out.append(write_utterance(folder, f"u{i}", wave, text, words(text, seconds), "What happened", "x"))
    return out


def corpus_ratio(table, normalisation: str, condition: str) -> np.ndarray:
    """Pooled ALAS / uniform ALAS per layer."""
    scores = pooled(table)
    part = scores[(scores["normalisation"] == normalisation) & (scores["condition"] == condition)]
    return part.sort_values("layer")["calibrated_tokens"].to_numpy()


def check_controls(table):
    default = ranking(separation(table))["normalisation"].iloc[0]
    oracle = corpus_ratio(table, default, "oracle")
    mismatched = corpus_ratio(table, default, "mismatched")
    return default, oracle, mismatched


@pytest.fixture(scope="module")
def tiny_table(tiny_composed, utterances):
    controls = conditions([0, 4], [0, 1], ["mismatched", "reversed", "untrained"])
    table, rejected = validate_corpus(
        tiny_composed, utterances, "sqa", PROMPTS, controls, NORMALISATIONS, components=2, seed=0
    )
    assert rejected == []
    return table


def test_every_condition_normalisation_and_layer_is_scored(tiny_table, tiny_composed):
    per_cell = tiny_table.groupby(["condition", "normalisation", "layer"]).size()
    assert (per_cell == 3).all()
    assert len(per_cell) == 7 * len(NORMALISATIONS) * tiny_composed.num_hidden_states
    # every condition of an utterance shares the reference and uniform path
    assert (tiny_table.groupby("utterance")["uniform_tokens"].nunique() == 1).all()


def test_tiny_model_oracle_far_below_uniform_and_mismatched_at_or_above_it(tiny_table):
    default, oracle, mismatched = check_controls(tiny_table)
    assert oracle.max() < 0.25, (default, oracle)
    assert np.median(mismatched) >= 1.0, (default, mismatched)


def test_same_seed_same_table(tiny_composed, utterances, tiny_table):
    controls = conditions([0, 4], [0, 1], ["mismatched", "reversed", "untrained"])
    again, _ = validate_corpus(
        tiny_composed, utterances, "sqa", PROMPTS, controls, NORMALISATIONS, components=2, seed=0
    )
    np.testing.assert_array_equal(again["alas_tokens"].to_numpy(), tiny_table["alas_tokens"].to_numpy())


def test_each_run_is_prefilled_once_and_a_full_cache_recomputes_the_same_table(
    tiny_composed, utterances, tiny_table, monkeypatch
):
    from speechalign.alas import measure

    controls = conditions([0, 4], [0, 1], ["mismatched", "reversed", "untrained"])
    calls = []
    prefill = type(tiny_composed).prefill
    monkeypatch.setattr(
        type(tiny_composed), "prefill", lambda self, run: calls.append(1) or prefill(self, run)
    )
    cached, _ = validate_corpus(
        tiny_composed, utterances, "sqa", PROMPTS, controls, NORMALISATIONS, components=2, seed=0
    )
    # the transcripts once, each condition's audio once; the untrained control is the tiny model's own audio
    # (its projector is the seed-0 initialisation), so the two share one prefill
    assert len(calls) == len(utterances) * len(controls)
    by_condition = cached.set_index(["condition", "utterance", "normalisation", "layer"])["alas_tokens"]
    pd.testing.assert_series_equal(by_condition["untrained"], by_condition["audio"])
    calls.clear()
    validate_corpus(tiny_composed, utterances, "sqa", PROMPTS, controls, NORMALISATIONS, components=2, seed=1)
    assert len(calls) == len(utterances) * (1 + len(controls))  # seed 1: another untrained projector
    monkeypatch.setattr(measure, "HIDDEN_CACHE_BYTES", 0)  # nothing kept: every pass prefills again
    recomputed, _ = validate_corpus(
        tiny_composed, utterances, "sqa", PROMPTS, controls, NORMALISATIONS, components=2, seed=0
    )
    assert len(calls) > 2 * len(utterances) * (1 + len(controls))
    pd.testing.assert_frame_equal(cached, tiny_table)
    pd.testing.assert_frame_equal(recomputed, tiny_table)


@pytest.mark.models
def test_real_model_oracle_far_below_uniform_and_mismatched_at_or_above_it(tmp_path):
    from speechalign.backends import backend_spec, load_backend
    from speechalign.data.corpora import build_corpus
    from speechalign.data.manifest import select_utterances
    from speechalign.params import load_params

    params = load_params(".", overrides={"profile": "quick"})
    # the quick profile's SQA corpus, built here so the test needs only the provisioned models
    build_corpus("sqa", params["data"], params["seed"], tmp_path / "sqa", workers=2)
    backend = load_backend(backend_spec(params["backends"], "composed-untrained"), seed=0)
    chosen = select_utterances(tmp_path / "sqa", "test", 4)
    controls = conditions([0], [0], ["mismatched"])
    table, _ = validate_corpus(
        backend, chosen, "sqa", params["backends"]["prompts"], controls, NORMALISATIONS, components=5, seed=0
    )
    assert table["utterance"].nunique() >= 2
    default, oracle, mismatched = check_controls(table)
    assert np.median(oracle) < 0.25, (default, oracle)
    assert np.median(mismatched) >= 1.0, (default, mismatched)


@pytest.mark.parametrize(("frame_factor", "offset"), [(2.0, None), (1.0, 0.3)])
def test_a_wrong_frame_length_or_offset_in_the_backend_is_caught(
    tiny_composed, utterances, frame_factor, offset
):
    """The oracle is laid out by the encoder's geometry, the reference by the backend's declared timing: a
    wrong declaration puts them apart (an oracle laid out along the reference would score 0 regardless)."""
    controls = conditions([0], [0], ["mismatched"])
    frame, shift = tiny_composed.frame_seconds, tiny_composed.offset_seconds
    right, _ = validate_corpus(tiny_composed, utterances, "sqa", PROMPTS, controls, ["cosine"], 2, seed=0)
    assert timing_check(right, tolerance=0.5)["ok"]
    try:
        tiny_composed.frame_seconds = frame * frame_factor
        tiny_composed.offset_seconds = shift if offset is None else offset
        wrong, _ = validate_corpus(tiny_composed, utterances, "sqa", PROMPTS, controls, ["cosine"], 2, seed=0)
    finally:
        tiny_composed.frame_seconds, tiny_composed.offset_seconds = frame, shift
    check = timing_check(wrong, tolerance=0.5)
    assert not check["ok"] and check["oracle_layer0_alas_tokens"] > 0.5


def test_the_ruler_runs_from_the_aligned_projector_to_the_untrained_one(tiny_composed, utterances):
    aligned = Projector.initialised(tiny_composed.projector.config, seed=7)
    controls = conditions([0], [0], ["untrained"], ruler=[0.5], placed=["itself"])
    table, _ = validate_corpus(
        tiny_composed,
        utterances,
        "sqa",
        PROMPTS,
        controls,
        ["cosine"],
        2,
        0,
        aligned,
        {"itself": tiny_composed},
    )
    steps = table.dropna(subset=["mix"]).groupby("condition")["mix"].first().to_dict()
    assert steps == {"aligned": 0.0, "ruler-0.5": 0.5, "ruler-1": 1.0}
    audio = table[table["condition"] == "audio"]["alas_tokens"].to_numpy()
    placed = table[table["condition"] == "placed:itself"]["alas_tokens"].to_numpy()
    np.testing.assert_array_equal(audio, placed)  # a placed model is scored like the model itself


def test_the_ruler_shuffles_a_growing_share_of_the_aligned_variation_and_keeps_its_statistics():
    config = ProjectorConfig(encoder_dim=4, llm_dim=3, hidden_dim=5, stack=2)
    aligned = Projector.initialised(config, seed=0)
    frames = torch.randn(1, 16, 4)
    with torch.no_grad():
        a = aligned(frames)  # (1, 8, 3)
        torch.testing.assert_close(MixedProjector(aligned, 0.0)(frames), a)
        full = MixedProjector(aligned, 1.0, seed=3)(frames)
        order = torch.randperm(8, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(full, a[:, order])  # the same vectors in another order
        half = MixedProjector(aligned, 0.5, seed=3)(frames)
        torch.testing.assert_close(half.mean(dim=1), a.mean(dim=1))  # the offset stays
        varying, own = half - half.mean(dim=1, keepdim=True), a - a.mean(dim=1, keepdim=True)
        # independent halves: the RMS is kept only on average; here within a loose band
        assert 0.5 < float(varying.pow(2).mean().sqrt() / own.pow(2).mean().sqrt()) < 1.5
