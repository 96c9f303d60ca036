"""Confidence intervals and paired tests, one implementation for the project: Student's t over seeds, a
percentile bootstrap over items (resampled within each part of a composite value), and for paired comparisons
of two systems (same items, same seeds) a crossed bootstrap over seeds and items with a sign-flip p-value.
A value that is a ratio of sums over items (IFEval's instruction level: followed instructions over all
instructions) is bootstrapped as a ratio, the items resampled together for numerator and denominator.

    >>> import numpy as np
    >>> column_value([np.array([1.0, 3.0]), np.array([0.0, np.nan])])
    1.0
    >>> ratio_value(np.array([[3.0, 0.0]]), np.array([[3.0, 1.0]]))  # 3 of 4, not (3/3 + 0/1) / 2
    0.75
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def column_value(part_arrays: Sequence[np.ndarray]) -> float:
    """Mean over parts of each part's mean of finite scores; NaN if any part has none."""
    means = []
    for values in part_arrays:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return math.nan
        means.append(finite.mean())
    return float(np.mean(means)) if means else math.nan


def t_interval(values: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """Mean and Student's t interval of ``values`` (>= 2 of them).

    >>> [round(v, 4) for v in t_interval([0.2, 0.4, 0.6], 0.95)]
    [0.4, -0.0968, 0.8968]
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError("a t interval needs at least two values")
    mean = float(x.mean())
    half = float(stats.t.ppf((1 + confidence) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def bootstrap_interval(
    part_arrays: Sequence[np.ndarray], confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Value (``column_value``) and percentile bootstrap interval, resampling items within each part."""
    value = column_value(part_arrays)
    if not math.isfinite(value):
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    finite = [a[np.isfinite(a)] for a in part_arrays]
    draws = np.zeros(resamples)
    for a in finite:  # (resamples,) means of resampled items, averaged over parts
        draws += a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1)
    draws /= len(finite)
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return value, float(low), float(high)


def ratio_value(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Mean over statistics ``k`` of ``sum_n numerators[k, n] / sum_n denominators[k, n]`` (both ``(K, N)``:
    K statistics over the same N items); NaN when a denominator sums to 0."""
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.ndim != 2:
        raise ValueError(f"numerators and denominators must both be (K, N); got {num.shape} and {den.shape}")
    sums = den.sum(axis=1)
    if num.shape[1] == 0 or (sums == 0).any():
        return math.nan
    return float(np.mean(num.sum(axis=1) / sums))


def ratio_bootstrap_interval(
    numerators: np.ndarray, denominators: np.ndarray, confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """``ratio_value`` and its percentile bootstrap interval: items (columns) are resampled, the same draw for
    every statistic and for numerator and denominator alike. With denominators of 1 and one statistic this
    is ``bootstrap_interval`` of one part, draw for draw."""
    value = ratio_value(numerators, denominators)
    if not math.isfinite(value):
        return math.nan, math.nan, math.nan
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, num.shape[1], size=(resamples, num.shape[1]))  # (R, N)
    # (K, R) summed numerators over summed denominators of each resample; a resample of items with no
    # denominator (possible only when some items have 0) is left out
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (num[:, index].sum(axis=2) / den[:, index].sum(axis=2)).mean(axis=0)  # (R,)
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(draws, [tail, 1 - tail])
    return value, float(low), float(high)


@dataclass(frozen=True)
class PairedComparison:
    """System A minus system B on the same (seed, item) cells: mean difference, interval, 2-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    seeds: int
    items: int


def crossed_bootstrap(
    values: np.ndarray, confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Mean of ``values (S seeds, N items)`` with a percentile interval that accounts for both sources of
    variation: each resample draws S seeds and N items with replacement (independently: every seed's model
    answers the same items) and takes the mean of that grid. With one seed it is the item bootstrap.

    >>> crossed_bootstrap(np.full((2, 3), 0.5), 0.95, 100, 0)
    (0.5, 0.5, 0.5)
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"values must be (seeds, items) with both at least 1; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values hold NaN or inf: drop or score those cells before comparing")
    rng = np.random.default_rng(seed)
    n_seeds, n_items = values.shape
    seeds = rng.integers(0, n_seeds, size=(resamples, n_seeds))  # (R, S)
    items = rng.integers(0, n_items, size=(resamples, n_items))  # (R, N)
    draws = np.array([values[np.ix_(s, i)].mean() for s, i in zip(seeds, items, strict=True)])  # (R,)
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(values.mean()), float(low), float(high)


def sign_flip_p_value(differences: np.ndarray, resamples: int, seed: int, exact_up_to: int = 12) -> float:
    """Two-sided p-value of a paired difference under H0 "the two systems are exchangeable on every item":
    each item's difference keeps its size and gets a random sign. Exact (all 2^N sign patterns) for N up to
    ``exact_up_to`` items, else Monte Carlo with the observed pattern counted in, (1 + hits) / (1 + R).

    >>> sign_flip_p_value(np.ones(5), resamples=1000, seed=0)  # 2 of 32 patterns are as extreme
    0.0625
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or d.size == 0 or not np.isfinite(d).all():
        raise ValueError("differences must be a non-empty 1-D array of finite numbers")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)  # the observed pattern itself must count as "as extreme"
    if d.size <= exact_up_to:
        signs = 1 - 2 * ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1)  # (2^N, N) of +-1
        return float(np.mean(np.abs(signs @ d) / d.size >= observed - tolerance))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, d.size))
    hits = int(np.sum(np.abs(signs @ d) / d.size >= observed - tolerance))
    return (1 + hits) / (1 + resamples)


def paired_comparison(
    a: np.ndarray, b: np.ndarray, confidence: float, resamples: int, seed: int
) -> PairedComparison:
    """A minus B on the same ``(seeds, items)`` grid: crossed-bootstrap interval of the mean difference and
    the sign-flip p-value of the per-item differences (averaged over seeds)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a paired comparison needs the same seeds and items: shapes {a.shape}, {b.shape}")
    diff = a - b
    mean, low, high = crossed_bootstrap(diff, confidence, resamples, seed)
    p = sign_flip_p_value(diff.mean(axis=0), resamples, seed)
    return PairedComparison(mean, low, high, p, seeds=diff.shape[0], items=diff.shape[1])


def items_for_power(
    differences: Sequence[float], fraction: float = 0.5, confidence: float = 0.95, power: float = 0.8
) -> int:
    """Items a paired comparison needs to resolve a difference of ``fraction`` of the pilot's mean paired
    difference (``differences``: one per item, e.g. averaged over seeds) at two-sided ``confidence`` with
    probability ``power``, by the normal approximation: n = ((z_(1+c)/2 + z_power) sd / (fraction |mean|))^2.

    >>> items_for_power([1.0, 3.0], fraction=1.0)  # mean 2, sd 1.414: ((1.96 + 0.84) 1.414 / 2)^2 = 3.9
    4
    """
    from scipy.stats import norm

    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) < 2 or not np.isfinite(d).all():
        raise ValueError("differences must be at least two finite values, one per item")
    if not (fraction > 0 and 0 < confidence < 1 and 0 < power < 1):
        raise ValueError("fraction must be positive, confidence and power in (0, 1)")
    effect = fraction * abs(d.mean())
    if effect == 0:
        raise ValueError("the pilot's mean difference is 0: no effect to size for")
    z = norm.ppf((1 + confidence) / 2) + norm.ppf(power)
    return math.ceil((z * d.std(ddof=1) / effect) ** 2)
