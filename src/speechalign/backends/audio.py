"""Waveforms for the backends: read a file, mix to mono, resample to the backend's rate."""

from __future__ import annotations

import math
import os

import numpy as np

from speechalign.backends.base import BackendInputError

__all__ = ["load_wave", "resample"]


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``(N,)`` at ``rate`` -> ``(M,)`` float32 at ``target`` (polyphase, exact rational ratio)."""
    if rate == target:
        return wave.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(wave, target // g, rate // g).astype(np.float32)


def load_wave(path: str | os.PathLike, target_rate: int) -> np.ndarray:
    """Mono float32 samples ``(N,)`` at ``target_rate``; a BackendInputError if unreadable."""
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (N, channels)
    except Exception as err:  # soundfile raises several types for missing or corrupt files
        raise BackendInputError(f"cannot read audio {path}: {type(err).__name__}: {err}") from err
    return resample(data.mean(axis=1), rate, target_rate)
