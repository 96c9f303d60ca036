"""ALAS validity without models: the fitted and matrix normalisations, the controls' building blocks, the
separation statistics and the data-driven choice of the default normalisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from speechalign.backends import Run
from speechalign.metrics.alas import (
    NORMALISATION_KINDS,
    alas,
    diagonal_contrast,
    fit_statistics,
    reference_path,
    similarity,
)
from speechalign.validity.controls import conditions, jittered_rows, oracle_embeddings, with_audio_embeddings
from speechalign.validity.separation import (
    auc,
    choose_default,
    effect_size,
    place_on_ruler,
    pooled,
    ranking,
    selection,
    separation,
)
from speechalign.validity.summary import ruler_summary


def naive_cosine(audio, text):  # (L, A, D), (L, T, D) -> (L, A, T)
    audio = audio / np.linalg.norm(audio, axis=-1, keepdims=True)
    text = text / np.linalg.norm(text, axis=-1, keepdims=True)
    return np.einsum("lad,ltd->lat", audio, text)


@pytest.fixture
def corpus():
    rng = np.random.default_rng(0)
    audio = [rng.standard_normal((2, n, 8)) + 3.0 for n in (9, 12)]  # (L, A_i, D), a shared offset
    text = [rng.standard_normal((2, n, 8)) - 1.0 for n in (5, 7)]  # (L, T_i, D)
    return audio, text


def test_new_normalisations_are_registered_with_their_kind():
    assert NORMALISATION_KINDS["cosine"] == "hidden"
    assert NORMALISATION_KINDS["corpus-centred"] == NORMALISATION_KINDS["pc-removed"] == "fitted"
    assert NORMALISATION_KINDS["standardised"] == "matrix"


def test_moment_accumulator_matches_the_mean_and_covariance_of_the_concatenated_corpus(corpus):
    audio, _ = corpus
    stats = fit_statistics(audio, audio, components=3).audio
    stacked = np.concatenate(audio, axis=1)  # (L, N, D)
    np.testing.assert_allclose(stats.mean.numpy(), stacked.mean(axis=1), atol=1e-5)
    for layer in range(2):
        values, vectors = np.linalg.eigh(np.cov(stacked[layer].T, bias=True))
        top = vectors[:, ::-1][:, :3].T  # (k, D), largest first
        overlap = np.abs(np.sum(top * stats.components[layer].numpy(), axis=1))  # |cos| per component
        np.testing.assert_allclose(overlap, 1.0, atol=1e-4)
    assert stats.positions == 21


def test_corpus_centred_subtracts_each_roles_corpus_mean(corpus):
    audio, text = corpus
    stats = fit_statistics(audio, text, components=0)
    expected = naive_cosine(
        audio[0] - np.concatenate(audio, axis=1).mean(axis=1, keepdims=True),
        text[0] - np.concatenate(text, axis=1).mean(axis=1, keepdims=True),
    )
    np.testing.assert_allclose(similarity(audio[0], text[0], "corpus-centred", stats), expected, atol=1e-5)


def test_pc_removed_leaves_nothing_along_the_removed_components(corpus):
    from speechalign.metrics.alas.normalisations import _pc_removed

    audio, text = corpus
    stats = fit_statistics(audio, text, components=2)
    cleaned = _pc_removed(torch.from_numpy(audio[1]).float(), stats.audio)  # (L, A, D)
    along = torch.bmm(cleaned, stats.audio.components.transpose(1, 2))  # (L, A, k)
    assert along.abs().max() < 1e-4
    assert not np.allclose(
        similarity(audio[1], text[1], "pc-removed", stats),
        similarity(audio[1], text[1], "corpus-centred", stats),
    )


def test_fitted_normalisation_without_statistics_says_how_to_fit_them(corpus):
    audio, text = corpus
    with pytest.raises(ValueError, match="fitted on a corpus.*fit_statistics"):
        similarity(audio[0], text[0], "pc-removed")


def test_statistics_of_another_model_are_refused(corpus):
    audio, text = corpus
    stats = fit_statistics(audio, text, components=1)
    with pytest.raises(ValueError, match="fit them on this model's runs"):
        similarity(audio[0][:, :, :4], text[0][:, :, :4], "corpus-centred", stats)


def test_standardised_zscores_rows_and_columns_of_the_raw_cosine(corpus):
    audio, text = corpus
    raw = naive_cosine(audio[0], text[0])
    rows = (raw - raw.mean(2, keepdims=True)) / raw.std(2, keepdims=True)
    cols = (raw - raw.mean(1, keepdims=True)) / raw.std(1, keepdims=True)
    np.testing.assert_allclose(similarity(audio[0], text[0], "standardised"), (rows + cols) / 2, atol=1e-4)


def test_alas_records_a_fitted_normalisation_by_name(corpus):
    audio, text = corpus
    stats = fit_statistics(audio, text, components=1)
    ref = reference_path(
        [(0.0, 0.2), (0.2, 0.36)], [(0, 1), (2, 3)], [(0, 1), (1, 3), (3, 3), (3, 3), (3, 3)], 9, 0.04
    )
    assert alas(audio[0], text[0], ref, "pc-removed", statistics=stats).normalisation == "pc-removed"


def test_diagonal_contrast_is_zero_when_the_reference_cells_look_like_the_rest():
    sim = np.ones((2, 4, 3), dtype=np.float32)
    np.testing.assert_allclose(diagonal_contrast(sim, np.array([0, 1, 1, 2])), 0.0)


def test_jitter_keeps_tokens_of_the_utterance_and_grows_the_disagreement():
    rows = np.repeat(np.arange(20), 5)  # (100,) 20 tokens of 5 positions
    small = jittered_rows(rows, 1.0, np.random.default_rng(0))
    large = jittered_rows(rows, 30.0, np.random.default_rng(0))
    assert set(large) <= set(rows)
    assert np.abs(small - rows).mean() < np.abs(large - rows).mean()


def test_noiseless_oracle_repeats_the_token_embeddings_and_noise_scales_with_their_rms():
    tokens = torch.arange(12, dtype=torch.float32).reshape(3, 4)  # (T, D)
    rows = np.array([0, 0, 1, 2, 2, 2])
    assert torch.equal(oracle_embeddings(tokens, rows, 0.0, np.random.default_rng(0)), tokens[rows])
    noisy = oracle_embeddings(tokens, rows, 2.0, np.random.default_rng(0)) - tokens[rows]
    rms = tokens.pow(2).mean().sqrt()
    assert 1.0 < float(noisy.std() / rms) < 3.0


def test_oracle_replaces_the_audio_span_only():
    embeds = torch.zeros(1, 7, 2)
    run = Run("audio", (2, 5), 7, payload={"inputs_embeds": embeds})
    swapped = with_audio_embeddings(run, torch.ones(3, 2))
    assert swapped.payload["inputs_embeds"][0, :, 0].tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert embeds.abs().sum() == 0  # the original run is untouched
    with pytest.raises(ValueError, match="positions"):
        with_audio_embeddings(run, torch.ones(4, 2))


def test_conditions_name_the_sweep_levels_and_refuse_unknown_negatives():
    names = [c.name for c in conditions([0, 1, 4], [0, 0.5], ["mismatched"])]
    assert names == ["oracle", "oracle-noise-1", "oracle-noise-4", "oracle-jitter-0.5", "audio", "mismatched"]
    with pytest.raises(Exception, match="unknown negative controls"):
        conditions([0], [0], ["shuffled"])


def test_auc_and_effect_size_known_values():
    assert auc(np.array([0.0, 0.1]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([0.0, 0.1])) == 0.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5
    assert effect_size(np.array([0.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(2 / np.sqrt(2))
    assert np.isnan(effect_size(np.array([1.0]), np.array([2.0, 3.0])))


SYNTHETIC = [  # condition, role, noise, ruler step, 'sharp' calibrated ALAS
    ("oracle", "positive", 0.0, None, 0.05),
    ("oracle-noise-1", "sweep", 1.0, None, 0.4),
    ("oracle-noise-4", "sweep", 4.0, None, 0.9),
    ("aligned", "aligned", 0.0, 0.0, 0.1),
    ("ruler-0.5", "ruler", 0.0, 0.5, 0.6),
    ("audio", "model", 0.0, None, 0.85),
    ("mismatched", "negative", 0.0, None, 1.2),
    ("reversed", "negative", 0.0, None, 1.2),
    ("ruler-1", "ruler", 0.0, 1.0, 1.1),
    ("untrained", "negative", 0.0, None, 1.15),
]


def synthetic_table(rng) -> pd.DataFrame:
    """Per-utterance calibrated ALAS of two normalisations: 'sharp' separates positives from negatives,
    degrades with noise and rises along the ruler (best at layer 1); 'flat' sees nothing (the raw-cosine
    failure of docs/facts.md)."""
    rows = []
    for u in range(6):
        for name, role, noise, mix, sharp in SYNTHETIC:
            for norm, value in (("sharp", sharp + 0.05 * rng.random()), ("flat", 3.0)):
                for layer in range(3):
                    rows.append(
                        {
                            "utterance": f"u{u}",
                            "condition": name,
                            "role": role,
                            "noise": noise,
                            "jitter": 0.0,
                            "mix": np.nan if mix is None else mix,
                            "normalisation": norm,
                            "layer": layer,
                            "alas_tokens": value * (2.0 if layer != 1 else 1.0),
                            "uniform_tokens": 2.0,
                            "diagonal_contrast": 0.0,
                            "hub_share": 0.1,
                            "k_skewness": 0.0,
                            "n_audio": 50,
                        }
                    )
    return pd.DataFrame(rows)


def test_the_default_is_the_normalisation_that_separates_the_controls():
    sep = separation(synthetic_table(np.random.default_rng(0)))
    assert set(sep["negative"]) == {"mismatched", "reversed", "untrained"}
    sharp = sep[sep["normalisation"] == "sharp"]
    assert (sharp["auc"] == 1.0).all() and (sharp["spearman_noise"] > 0.8).all()
    flat = ranking(sep).set_index("normalisation").loc["flat"]
    assert flat["auc"] == 0.5
    assert choose_default(sep) == "sharp"


def test_the_selection_is_the_separating_normalisation_and_the_aligned_models_best_layer():
    table = synthetic_table(np.random.default_rng(0))
    chosen = selection(table, separation(table))
    assert (chosen["normalisation"], chosen["layer"], chosen["positive"]) == ("sharp", 1, "aligned")


def test_the_ruler_rises_and_places_the_model_between_its_steps():
    table = synthetic_table(np.random.default_rng(1))
    summary = ruler_summary(pooled(table), "sharp", layer=1)
    assert [s["mix"] for s in summary["steps"]] == [0.0, 0.5, 1.0]
    assert summary["spearman_layer"] == 1.0 and summary["spearman_mean_over_layers"] == 1.0
    steps = {s["mix"]: s["alas_tokens_layer"] for s in summary["steps"]}
    value = summary["placements"]["audio"]["alas_tokens_layer"]
    expected = 0.5 + 0.5 * (value - steps[0.5]) / (steps[1.0] - steps[0.5])  # linear between steps 0.5 and 1
    assert summary["placements"]["audio"]["step_layer"] == pytest.approx(expected)


def test_place_on_ruler_clips_at_the_ends_and_reads_a_non_monotonic_ruler_by_its_running_maximum():
    curve = pd.DataFrame({"mix": [0.0, 0.25, 0.5, 1.0], "layer": 0, "alas_tokens": [1.0, 3.0, 2.0, 5.0]})
    assert place_on_ruler(curve, 0, 0.5) == 0.0 and place_on_ruler(curve, 0, 9.0) == 1.0
    assert place_on_ruler(curve, 0, 2.0) == pytest.approx(0.125)  # between 1.0 (step 0) and 3.0 (step 0.25)
    assert place_on_ruler(curve, 0, 4.0) == pytest.approx(0.625)  # running max 3 at 0.25..0.5, 5 at 1
    flat_end = pd.DataFrame({"mix": [0.0, 0.5, 1.0], "layer": 0, "alas_tokens": [1.0, 2.0, 2.0]})
    assert place_on_ruler(flat_end, 0, 3.0) == 1.0  # beyond the ruler's end is its end, not the flat start
