"""MAS kernels against brute force, path shape rules, ties, and bad input."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from speechalign.metrics.alas import maximum_path, path_score


def allowed_paths(n_audio: int, n_text: int):
    """Every path the module docstring allows, by enumeration (independent of the DP)."""
    if n_audio == 1:
        yield (0,)
        return
    if n_audio >= n_text:  # choose the T-1 rows where the token advances by one
        for steps in itertools.combinations(range(1, n_audio), n_text - 1):
            yield tuple(int(np.searchsorted(steps, i, side="right")) for i in range(n_audio))
    else:  # strictly increasing from 0 to T-1: choose the A-2 middle tokens
        for middle in itertools.combinations(range(1, n_text - 1), n_audio - 2):
            yield (0, *middle, n_text - 1)


def brute_force(sim: np.ndarray) -> tuple[float, np.ndarray]:
    """Best sum, and the pointwise latest of all optimal paths (what 'ties stay' must produce)."""
    paths = np.array(list(allowed_paths(*sim.shape)))  # (P, A)
    sums = sim[np.arange(sim.shape[0]), paths].sum(axis=1)  # (P,)
    best = sums.max()
    return best, paths[sums == best].max(axis=0)


small_matrix = st.tuples(st.integers(1, 7), st.integers(1, 7)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.integers(-3, 3).map(float))
)


@settings(max_examples=300, deadline=None)
@given(small_matrix)
def test_path_is_optimal_and_breaks_ties_towards_later_tokens(sim):
    # Small integers make exact ties common, so the tie rule is exercised, not just optimality.
    best, latest_optimal = brute_force(sim)
    path = maximum_path(sim)
    assert path_score(sim, path) == best
    np.testing.assert_array_equal(path, latest_optimal)


@settings(max_examples=100, deadline=None)
@given(
    st.tuples(st.integers(1, 7), st.integers(1, 7)).flatmap(
        lambda shape: arrays(np.float32, shape, elements=st.floats(-1, 1, width=32))
    )
)
def test_float32_path_reaches_the_brute_force_optimum(sim):
    best, _ = brute_force(sim.astype(np.float64))
    assert path_score(sim, maximum_path(sim)) == pytest.approx(best, abs=1e-5)


@pytest.mark.parametrize(
    "shape", [(750, 150), (151, 150), (150, 150), (40, 3), (5, 1), (1, 9), (3, 30), (149, 150)]
)
def test_paths_start_at_zero_end_at_last_token_and_step_as_allowed(shape):
    rng = np.random.default_rng(sum(shape))
    sim = rng.standard_normal((4, *shape)).astype(np.float32)  # (L, A, T)
    paths = maximum_path(sim)
    n_audio, n_text = shape
    assert paths.shape == (4, n_audio) and paths.dtype == np.int32
    assert (paths[:, 0] == 0).all()
    if n_audio > 1:
        assert (paths[:, -1] == n_text - 1).all()
    steps = np.diff(paths, axis=1)
    if n_audio >= n_text:
        assert set(np.unique(steps)) <= {0, 1}
        assert all(len(np.unique(p)) == n_text for p in paths)  # every token has a row
    else:
        assert (steps >= 1).all()


def test_layers_are_solved_independently():
    rng = np.random.default_rng(1)
    sim = rng.standard_normal((6, 60, 20))
    batched = maximum_path(sim)
    for layer in range(6):
        np.testing.assert_array_equal(batched[layer], maximum_path(sim[layer]))


def test_strided_float64_and_float32_inputs_give_the_same_path():
    rng = np.random.default_rng(2)
    text_major = rng.standard_normal((3, 25, 80))  # (L, T, A)
    audio_major_view = text_major.transpose(0, 2, 1)  # a strided (L, A, T) view
    np.testing.assert_array_equal(
        maximum_path(audio_major_view), maximum_path(np.ascontiguousarray(audio_major_view, dtype=np.float32))
    )


def test_ties_stay_on_the_current_token():
    # All-equal scores: every allowed path ties; staying puts the spare rows on the last token.
    assert maximum_path(np.zeros((5, 3))).tolist() == [0, 1, 2, 2, 2]
    assert maximum_path(np.zeros((3, 6))).tolist() == [0, 4, 5]


def test_single_row_takes_token_zero_and_single_token_takes_every_row():
    assert maximum_path(np.array([[0.0, 5.0, 9.0]])).tolist() == [0]
    assert maximum_path(np.ones((4, 1))).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_similarity_is_rejected(bad):
    sim = np.zeros((2, 4, 3))
    sim[1, 2, 0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        maximum_path(sim)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 3, 3), (2,), (1, 2, 3, 4)])
def test_bad_shapes_are_rejected(shape):
    with pytest.raises(ValueError, match="similarity"):
        maximum_path(np.zeros(shape))
