"""Audio arithmetic shared by every stage."""

from __future__ import annotations

import math

import numpy as np


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``(N,)`` at ``rate`` -> ``(M,)`` float32 at ``target`` (polyphase, exact rational ratio).

    >>> resample(np.ones(4), 16000, 8000).shape
    (2,)
    """
    if rate == target:
        return wave.astype(np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(wave, target // g, rate // g).astype(np.float32)
