"""Audio checks before any aligner sees it: every aligner takes mono float32 at 16 kHz, and bad input
fails here with a message that says what is wrong, instead of as a shape error deep inside a model."""

from __future__ import annotations

import numbers

import numpy as np

from speechalign.errors import UserFacingError

RATE = 16000  # every Whisper variant and pocketsphinx's en-us model take 16 kHz
MIN_RATE, MAX_RATE = 8000, 384000  # anything outside is a mistake (e.g. a rate in kHz), not audio
CLIP_MARGIN = 1.5  # float audio beyond +-1.5 is unscaled integer PCM, not a loud recording


class BadAudioError(UserFacingError):
    """The audio cannot be aligned as given."""


def check_rate(sample_rate: object) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral):
        raise BadAudioError(f"sample rate must be an integer number of Hz, got {sample_rate!r}")
    if not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise BadAudioError(
            f"sample rate {sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz; give the rate in Hz "
            f"(e.g. 16000, not 16)"
        )
    return int(sample_rate)


def as_float(audio: np.ndarray) -> np.ndarray:
    """Integer PCM is scaled to [-1, 1]; float audio is taken as it is."""
    if np.issubdtype(audio.dtype, np.integer):
        return audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
    if np.issubdtype(audio.dtype, np.floating):
        return audio.astype(np.float32)
    raise BadAudioError(f"audio must be an array of numbers, got dtype {audio.dtype}")


def prepare_audio(audio: object, sample_rate: object) -> np.ndarray:
    """Mono float32 samples at 16 kHz, resampled if needed; BadAudioError for anything unusable."""
    from speechalign.audio import resample

    if not isinstance(audio, np.ndarray):
        raise BadAudioError(f"audio must be a numpy array, got {type(audio).__name__}")
    rate = check_rate(sample_rate)
    if audio.ndim != 1:
        raise BadAudioError(f"audio must be mono (1-D), got shape {audio.shape}; average the channels first")
    if audio.size == 0:
        raise BadAudioError("audio is empty (0 samples)")
    samples = as_float(audio)
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise BadAudioError(f"audio has {bad} NaN or infinite samples of {samples.size}")
    peak = float(np.abs(samples).max())
    if peak > CLIP_MARGIN:
        raise BadAudioError(f"float audio peaks at {peak:.1f}: scale integer PCM to [-1, 1] first")
    return resample(samples, rate, RATE) if rate != RATE else samples
