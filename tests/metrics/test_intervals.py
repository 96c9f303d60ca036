"""Intervals and paired tests: hand-computed cases, scipy's bootstrap as the reference, bad inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from speechalign.metrics.intervals import (
    bootstrap_interval,
    crossed_bootstrap,
    paired_comparison,
    ratio_bootstrap_interval,
    ratio_value,
    sign_flip_p_value,
)


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


# ---- ratios of sums (IFEval's instruction level) ----


def test_a_ratio_of_sums_is_not_a_mean_of_per_item_shares():
    followed, instructions = np.array([[3.0, 0.0]]), np.array([[3.0, 1.0]])
    assert ratio_value(followed, instructions) == 0.75  # (3/3 + 0/1) / 2 would be 0.5
    two = ratio_value(np.array([[3.0, 0.0], [1.0, 0.0]]), np.array([[3.0, 1.0], [1.0, 1.0]]))
    assert two == pytest.approx((0.75 + 0.5) / 2)  # the mean of the two statistics


def test_ratio_bootstrap_with_unit_denominators_is_the_item_bootstrap_draw_for_draw():
    values = np.random.default_rng(3).integers(0, 2, size=25).astype(float)
    ratio = ratio_bootstrap_interval(values[None], np.ones((1, 25)), 0.9, 500, seed=7)
    assert ratio == pytest.approx(bootstrap_interval([values], 0.9, 500, seed=7))


def test_ratio_bootstrap_resamples_items_with_their_denominators():
    # items (3 of 3) and (0 of 1): resamples give 1 (both the first), 3/4 or 0: the 95% interval is [0, 1]
    value, low, high = ratio_bootstrap_interval(np.array([[3.0, 0.0]]), np.array([[3.0, 1.0]]), 0.95, 2000, 0)
    assert (value, low, high) == (0.75, 0.0, 1.0)
    _, low, high = ratio_bootstrap_interval(np.array([[3.0, 0.0]]), np.array([[3.0, 1.0]]), 0.4, 2000, 0)
    assert low == high == 0.75  # the middle 40% of the draws is the one both-items value, 3/4


def test_ratio_inputs_of_different_shapes_are_refused_and_no_denominator_is_nan():
    with pytest.raises(ValueError, match="both be"):
        ratio_value(np.zeros((1, 2)), np.zeros((1, 3)))
    assert np.isnan(ratio_value(np.zeros((1, 2)), np.zeros((1, 2))))
    assert np.isnan(ratio_bootstrap_interval(np.zeros((1, 0)), np.zeros((1, 0)), 0.95, 10, 0)[0])


def test_docstring_examples_run():
    import doctest

    import speechalign.metrics.intervals as module

    outcome = doctest.testmod(module)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_items_for_power_by_hand_and_its_scaling():
    from speechalign.metrics.intervals import items_for_power

    # mean 2, sd sqrt(2); z = 1.959964 + 0.841621 = 2.801585; (2.801585 * 1.414214 / 1)^2 = 15.70 -> 16
    assert items_for_power([1.0, 3.0]) == 16
    assert items_for_power([1.0, 3.0], fraction=1.0) == 4  # 3.92: a whole effect needs a quarter
    assert items_for_power([-1.0, -3.0]) == 16  # the sign does not matter
    for bad in ([1.0], [1.0, float("nan")], [1.0, -1.0]):
        with pytest.raises(ValueError):
            items_for_power(bad)


def test_items_for_power_gives_the_power_it_promises():
    """Simulated paired experiments of the sized number of items resolve half the effect about 80% of the
    time (t-test at 95%): the formula is not off by a factor."""
    from scipy.stats import ttest_1samp

    from speechalign.metrics.intervals import items_for_power

    rng = np.random.default_rng(0)
    pilot = rng.normal(0.3, 1.0, size=400)  # per-item differences: effect 0.3, sd 1
    n = items_for_power(pilot)  # half the effect: about ((2.8 * 1) / 0.15)^2 = 350
    assert 250 < n < 500
    trials = rng.normal(0.5 * pilot.mean(), pilot.std(ddof=1), size=(2000, n))
    resolved = np.mean(ttest_1samp(trials, 0.0, axis=1).pvalue < 0.05)
    assert 0.76 < resolved < 0.84
