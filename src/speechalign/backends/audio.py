"""Waveforms for the backends: read a file, mix to mono, resample to the backend's rate."""

from __future__ import annotations

import os

import numpy as np

from speechalign.audio import resample
from speechalign.backends.base import BackendInputError

__all__ = ["load_wave"]


def load_wave(path: str | os.PathLike, target_rate: int) -> np.ndarray:
    """Mono float32 samples ``(N,)`` at ``target_rate``; a BackendInputError if unreadable."""
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (N, channels)
    except Exception as err:  # soundfile raises several types for missing or corrupt files
        raise BackendInputError(f"cannot read audio {path}: {type(err).__name__}: {err}") from err
    return resample(data.mean(axis=1), rate, target_rate)
