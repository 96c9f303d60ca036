"""The ALAS score end to end on arrays: exact values, zero at the reference, invariances, pooling, errors."""

import doctest
import importlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.metrics.alas import (
    AlasResult,
    alas,
    best_layer,
    hubness,
    maximum_path,
    mean_alas,
    pooled_alas,
    reference_path,
    uniform_path,
)

FRAME = 0.1  # seconds per audio position in these examples; row centres at 0.05, 0.15, ...


@pytest.fixture
def two_layer_example():
    """A = 4 rows, T = 2 one-token words "ab cd"; hidden states in 2-D so every cosine is known by hand.

    layer 0 cosines: [1, 0], [.707, .707], [0, 1], [0, 1] -> [0, 0, 1, 1] and [0, 1, 1, 1] both sum 3.707;
        at row 2 staying on token 1 ties with advancing, ties stay -> [0, 1, 1, 1]
    layer 1 cosines: [1, 0], [1, 0], [1, 0], [0, 1] -> [0, 0, 0, 1]
    reference: word "ab" 0-0.3 s (rows 0-2), "cd" 0.3-0.4 s (row 3) -> [0, 0, 0, 1]
    uniform: round(i / 3) -> [0, 0, 1, 1]
    """
    text = np.array([[[1.0, 0.0], [0.0, 1.0]]] * 2)  # (L=2, T=2, D=2)
    audio = np.array([[[1, 0], [1, 1], [0, 1], [0, 2]], [[1, 0], [2, 0], [1, 0], [0, 1]]], dtype=float)
    ref = reference_path([(0.0, 0.3), (0.3, 0.4)], [(0, 2), (3, 5)], [(0, 2), (2, 5)], 4, FRAME)
    return audio, text, ref


def test_hand_computed_example(two_layer_example):
    result = alas(*two_layer_example)
    assert result.paths.tolist() == [[0, 1, 1, 1], [0, 0, 0, 1]]
    assert result.reference.token_per_row.tolist() == [0, 0, 0, 1]
    assert result.uniform_path.tolist() == [0, 0, 1, 1]
    scores = result.scores
    np.testing.assert_array_equal(scores.tokens, [0.5, 0.0])  # |0-0| + |1-0| + |1-0| + |1-1| = 2 over 4 rows
    np.testing.assert_array_equal(scores.words, [0.5, 0.0])  # one token per word: the same
    assert scores.uniform_tokens == 0.25 and scores.uniform_words == 0.25  # uniform is off at row 2 only
    np.testing.assert_array_equal(scores.calibrated_tokens, [2.0, 0.0])
    np.testing.assert_array_equal(result.counts.distance_tokens, [2.0, 0.0])
    assert (result.n_audio, result.n_text, result.n_words, result.n_layers) == (4, 2, 2, 2)
    assert best_layer(scores) == 1


def test_word_units_map_path_tokens_to_words():
    # "abcd e": word 0 = pieces 0, 1; word 1 = piece 2. One-hot hidden states force [0, 1, 1, 2, 2, 2].
    text = np.eye(3)[None]  # (1, 3, 3)
    audio = np.eye(3)[[0, 1, 1, 2, 2, 2]][None]  # (1, 6, 3)
    ref = reference_path([(0.0, 0.4), (0.4, 0.6)], [(0, 4), (5, 6)], [(0, 2), (2, 4), (4, 6)], 6, FRAME)
    assert ref.token_per_row.tolist() == [0, 0, 1, 1, 2, 2]
    result = alas(audio, text, ref)
    assert result.paths.tolist() == [[0, 1, 1, 2, 2, 2]]
    assert result.scores.tokens.tolist() == [2 / 6]  # rows 1 and 3 are one piece off
    assert result.scores.words.tolist() == [1 / 6]  # only row 3 is in the wrong word


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.lists(st.integers(1, 6), min_size=n, max_size=n)))
def test_hidden_states_whose_best_path_is_the_reference_score_zero(rows_per_word):
    # Each word spans its rows exactly; audio rows are one-hot on the reference token, so MAS must find it.
    n_words = len(rows_per_word)
    bounds = np.concatenate([[0], np.cumsum(rows_per_word)]) * FRAME
    spans = [(3 * w, 3 * w + 2) for w in range(n_words)]
    ref = reference_path(np.stack([bounds[:-1], bounds[1:]], 1), spans, spans, int(sum(rows_per_word)), FRAME)
    text = np.eye(n_words)[None].repeat(3, 0)  # (3, T, T)
    audio = np.eye(n_words)[ref.token_per_row][None].repeat(3, 0)  # (3, A, T)
    scores = alas(audio, text, ref).scores
    assert (scores.tokens == 0).all() and (scores.words == 0).all()


def test_scaling_hidden_states_changes_nothing(two_layer_example):
    audio, text, ref = two_layer_example
    rng = np.random.default_rng(0)
    base = alas(audio, text, ref)
    scaled = alas(audio * rng.uniform(0.1, 10, size=(2, 4, 1)), text * 1e4, ref)
    np.testing.assert_array_equal(scaled.paths, base.paths)
    np.testing.assert_array_equal(scaled.scores.tokens, base.scores.tokens)


def test_random_hidden_states_in_bf16_give_the_path_of_their_float32_similarity():
    rng = np.random.default_rng(5)
    audio = torch.from_numpy(rng.standard_normal((4, 30, 32))).to(torch.bfloat16)
    text = torch.from_numpy(rng.standard_normal((4, 8, 32))).to(torch.bfloat16)
    spans = [(3 * w, 3 * w + 2) for w in range(8)]
    ref = reference_path([(0.3 * w, 0.3 * w + 0.3) for w in range(8)], spans, spans, 30, FRAME)
    result = alas(audio, text, ref, normalisation="centred")
    assert result.normalisation == "centred"
    a32, t32 = audio.float(), text.float()
    a32, t32 = a32 - a32.mean(1, keepdim=True), t32 - t32.mean(1, keepdim=True)
    sim = torch.nn.functional.normalize(a32, dim=-1) @ torch.nn.functional.normalize(t32, dim=-1).mT
    np.testing.assert_array_equal(result.paths, maximum_path(sim.numpy()))


def test_calibrated_score_is_nan_when_the_uniform_path_is_perfect():
    spans = [(0, 2), (3, 5)]
    ref = reference_path([(0.0, 0.2), (0.2, 0.4)], spans, spans, 4, FRAME)  # reference [0, 0, 1, 1]
    audio = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    result = alas(audio, np.eye(2)[None], ref)
    assert result.scores.uniform_tokens == 0.0
    assert result.scores.tokens[0] == 0.25 and np.isnan(result.scores.calibrated_tokens[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(1, 200))
def test_uniform_path_is_an_allowed_mas_path(n_audio, n_text):
    path = uniform_path(n_audio, n_text)
    assert path.shape == (n_audio,) and path[0] == 0
    if n_audio > 1:
        assert path[-1] == n_text - 1
        steps = np.diff(path)
        assert set(np.unique(steps)) <= {0, 1} if n_audio >= n_text else (steps >= 1).all()


def test_pooled_alas_sums_distances_instead_of_averaging_means(two_layer_example):
    long_audio, long_text, long_ref = two_layer_example  # 4 rows: 0.5, 0.0
    spans = [(0, 2), (3, 5)]
    short_ref = reference_path([(0.0, 0.1), (0.1, 0.2)], spans, spans, 2, FRAME)  # reference [0, 1]
    short_audio = np.array([[[0, 1], [0, 1]], [[1, 0], [0, 1]]], dtype=float)  # paths [0, 1] both; 0 distance
    results = [alas(long_audio, long_text, long_ref), alas(short_audio, long_text, short_ref)]
    rows = np.array([r.counts.n_rows for r in results], dtype=float)
    per_layer = [pooled_alas(np.array([r.scores.tokens[k] for r in results]), rows)[0] for k in range(2)]
    np.testing.assert_array_equal(per_layer, [2 / 6, 0.0])  # (2 + 0) / (4 + 2), not (0.5 + 0) / 2
    uniform = pooled_alas(np.array([r.scores.uniform_tokens for r in results]), rows)[0]
    assert uniform == 1 / 6


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 50), st.integers(1, 400)), min_size=1, max_size=20), st.integers(0, 99)
)
def test_pooled_alas_equals_summed_counts_and_resamples_by_weight(utterances, seed):
    """Property: the ratio of sums equals summing per-utterance distance sums; a resample's weights count
    how often each utterance is drawn (weight 2 = the utterance twice)."""
    scores = np.array([u[0] for u in utterances])
    rows = np.array([u[1] for u in utterances], dtype=float)
    assert pooled_alas(scores, rows)[0] == pytest.approx(sum(scores * rows) / rows.sum())
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(rows), np.full(len(rows), 1 / len(rows)))
    drawn = np.repeat(np.arange(len(rows)), counts)
    expected = pooled_alas(scores[drawn], rows[drawn])[0]
    assert pooled_alas(scores, rows, counts[None].astype(float))[0] == pytest.approx(expected)


def test_reference_of_another_length_is_rejected(two_layer_example):
    audio, text, ref = two_layer_example
    with pytest.raises(ValueError, match="reference covers 4 audio positions but the audio has 3"):
        alas(audio[:, :3], text, ref)
    with pytest.raises(ValueError, match="reference covers 2 text tokens but the text has 1"):
        alas(audio, text[:, :1], ref)


def test_best_layer_rejects_an_unknown_unit(two_layer_example):
    with pytest.raises(ValueError, match="unit must be"):
        best_layer(alas(*two_layer_example).scores, unit="seconds")


def test_result_is_frozen(two_layer_example):
    result = alas(*two_layer_example)
    assert isinstance(result, AlasResult)
    with pytest.raises(AttributeError):
        result.normalisation = "centred"


@pytest.mark.parametrize(
    "module",
    [
        "speechalign.metrics.alas",
        "speechalign.metrics.alas.mas",
        "speechalign.metrics.alas.similarity",
        "speechalign.metrics.alas.reference",
        "speechalign.metrics.alas.score",
    ],
)
def test_docstring_examples_run(module):
    outcome = doctest.testmod(importlib.import_module(module))
    assert outcome.attempted > 0 and outcome.failed == 0


def test_fewer_audio_positions_than_tokens_scores_a_skipping_path():
    # A = 3 rows, T = 6 one-token words: the path goes 0 -> best middle token -> 5, strictly increasing.
    text = np.eye(6)[None]  # (1, 6, 6)
    audio = np.eye(6)[[0, 3, 5]][None]  # (1, 3, 6)
    spans = [(3 * w, 3 * w + 2) for w in range(6)]
    ref = reference_path([(0.1 * w, 0.1 * w + 0.1) for w in range(6)], spans, spans, 3, 0.2)
    assert ref.token_per_row.tolist() == [1, 3, 5]  # row centres 0.1, 0.3, 0.5 s
    result = alas(audio, text, ref)
    assert result.paths.tolist() == [[0, 3, 5]]
    assert result.uniform_path.tolist() == [0, 3, 5]  # round(i * 5 / 2), halves up
    assert result.scores.tokens[0] == 1 / 3 and result.scores.uniform_tokens == 1 / 3


def test_word_units_a_path_equal_to_the_reference_scores_zero_when_words_share_a_token():
    # issue 20 item 10: "ab c" with one token over both words; word "c" has no token of its own
    ref = reference_path([(0, 0.08), (0.08, 0.16)], [(0, 2), (3, 4)], [(0, 4)], 4, 0.04)
    result = alas(np.ones((1, 4, 2)), np.ones((1, 1, 2)), ref)
    assert result.paths.tolist() == [ref.token_per_row.tolist()]
    assert result.scores.tokens.tolist() == [0.0] and result.scores.words.tolist() == [0.0]
    # "a b c" with "a b" merged: rows of "b" sit on token 0, whose word is "a": merged words are one unit
    ref = reference_path(
        [(0, 0.08), (0.08, 0.16), (0.16, 0.24)], [(0, 1), (2, 3), (4, 5)], [(0, 3), (3, 5)], 6, 0.04
    )
    text = np.eye(2)[None]  # (1, T=2, D=2)
    on_reference = alas(np.eye(2)[ref.token_per_row][None], text, ref)
    assert on_reference.scores.words.tolist() == [0.0]
    one_row_early = alas(np.eye(2)[[0, 0, 0, 1, 1, 1]][None], text, ref)  # row 3 on token 1 (word "c")
    assert one_row_early.scores.tokens.tolist() == pytest.approx([1 / 6])
    assert one_row_early.scores.words.tolist() == pytest.approx([2 / 6])  # word 2 where the unit is word 0


def test_hubness_by_hand():
    # rows' nearest tokens 0, 0, 0, 1 -> votes [3, 1, 0]: mean 4/3, centred [5/3, -1/3, -4/3],
    # variance 42/27, third moment 60/81 -> skewness (60/81) / (42/27)^1.5 = 0.3818
    sim = np.array([[[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.7, 0.1, 0.3], [0.1, 0.9, 0.2]]])
    h = hubness(sim, np.array([[0, 0, 1, 2]]), k=1)
    assert h.hub_share.tolist() == [0.5]
    assert h.k_skewness[0] == pytest.approx((60 / 81) / (42 / 27) ** 1.5) and h.k_skewness[
        0
    ] == pytest.approx(0.3818, abs=1e-4)
    flat = hubness(np.eye(3)[None], np.array([[0, 1, 2]]), k=1)  # every token nearest once: no hub
    assert flat.hub_share[0] == pytest.approx(1 / 3) and flat.k_skewness.tolist() == [0.0]


def test_the_papers_average_and_our_ratio_of_sums_differ_as_computed_by_hand():
    per_utterance, rows = np.array([1.0, 4.0]), np.array([3.0, 1.0])
    assert mean_alas(per_utterance).tolist() == [2.5]  # (1 + 4) / 2
    assert pooled_alas(per_utterance, rows).tolist() == [1.75]  # (1*3 + 4*1) / 4
    assert mean_alas(per_utterance, np.array([[2.0, 0.0]])).tolist() == [1.0]  # a resample drawing u0 twice
