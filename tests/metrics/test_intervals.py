"""Intervals and paired tests: hand-computed cases, scipy's bootstrap as the reference, bad inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from speechalign.metrics.intervals import crossed_bootstrap, paired_comparison, sign_flip_p_value


def test_one_seed_crossed_bootstrap_agrees_with_scipys_percentile_bootstrap():
    rng = np.random.default_rng(1)
    items = rng.normal(0.3, 1.0, size=60)
    mean, low, high = crossed_bootstrap(items[None], 0.95, 20000, seed=0)
    ref = stats.bootstrap((items,), np.mean, confidence_level=0.95, n_resamples=20000, method="percentile",
                          random_state=0).confidence_interval  # fmt: skip
    assert mean == pytest.approx(items.mean())
    assert low == pytest.approx(ref.low, abs=0.02) and high == pytest.approx(ref.high, abs=0.02)


def test_seed_variation_widens_the_interval():
    """Items alone cannot see a seed effect: the crossed interval must be wider than the item-only one when
    seeds differ, and equal in width (up to resampling noise) when they do not."""
    rng = np.random.default_rng(2)
    items = rng.normal(0, 1, size=40)
    same = np.tile(items, (3, 1))  # three identical seeds
    shifted = same + np.array([[-1.0], [0.0], [1.0]])  # seeds disagree by a lot
    _, lo_same, hi_same = crossed_bootstrap(same, 0.95, 4000, seed=0)
    _, lo_shift, hi_shift = crossed_bootstrap(shifted, 0.95, 4000, seed=0)
    assert hi_shift - lo_shift > 1.5 * (hi_same - lo_same)


def test_sign_flip_p_value_is_exact_for_few_items():
    assert sign_flip_p_value(np.array([1.0, 1.0, 1.0]), 100, 0) == 2 / 8
    # [1, -1]: every pattern's |mean| >= 0 -> p = 1; [3, 1]: |±3 ± 1| / 2 >= 2 for (+,+) and (-,-) only
    assert sign_flip_p_value(np.array([1.0, -1.0]), 100, 0) == 1.0
    assert sign_flip_p_value(np.array([3.0, 1.0]), 100, 0) == 0.5


def test_sign_flip_p_value_matches_brute_force_enumeration():
    rng = np.random.default_rng(3)
    d = rng.normal(0.4, 1.0, size=9)
    patterns = itertools.product([-1, 1], repeat=d.size)
    brute = np.mean([abs(np.dot(s, d)) / d.size >= abs(d.mean()) - 1e-12 for s in patterns])
    assert sign_flip_p_value(d, 100, 0) == pytest.approx(brute)


def test_monte_carlo_p_value_is_close_to_the_exact_one_and_never_zero():
    rng = np.random.default_rng(4)
    d = rng.normal(0.2, 1.0, size=12)
    exact = sign_flip_p_value(d, 100, 0, exact_up_to=12)
    sampled = sign_flip_p_value(d, 20000, 0, exact_up_to=0)
    assert sampled == pytest.approx(exact, abs=0.02)
    assert sign_flip_p_value(np.full(40, 5.0), 999, 0) == 1 / 1000  # tiny, but a Monte Carlo p is never 0


def test_paired_comparison_of_a_clear_improvement():
    rng = np.random.default_rng(5)
    b = rng.normal(0.0, 1.0, size=(3, 30))
    a = b + 0.5 + rng.normal(0, 0.1, size=b.shape)
    result = paired_comparison(a, b, 0.95, 2000, seed=0)
    assert result.difference == pytest.approx(0.5, abs=0.05)
    assert 0 < result.low < result.difference < result.high
    assert result.p_value < 0.001 and (result.seeds, result.items) == (3, 30)


@pytest.mark.parametrize(
    "a, b, message",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "same seeds and items"),
        (np.array([[np.nan, 1.0]]), np.zeros((1, 2)), "NaN"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "at least 1"),
    ],
)
def test_bad_inputs_are_refused_with_a_message(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_comparison(a, b, 0.95, 100, seed=0)
