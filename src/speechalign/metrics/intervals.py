"""Confidence intervals, one implementation for the project: Student's t over seeds, and a percentile
bootstrap over items (resampled within each part of a composite value).

    >>> import numpy as np
    >>> column_value([np.array([1.0, 3.0]), np.array([0.0, np.nan])])
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
