"""Bad audio is refused with a message that says what is wrong; good audio comes out mono float32 16 kHz."""

from __future__ import annotations

import numpy as np
import pytest

from speechalign.reference import BadAudioError, align, prepare_audio


@pytest.mark.parametrize(
    ("audio", "rate", "message"),
    [
        (np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, "1 NaN or infinite samples of 3"),
        (np.array([0.0, np.inf]), 16000, "NaN or infinite"),
        (np.zeros(0, dtype=np.float32), 16000, "empty"),
        (np.zeros(1600, dtype=np.float32), 16, "outside 8000-384000 Hz"),
        (np.zeros(1600, dtype=np.float32), 0, "outside"),
        (np.zeros(1600, dtype=np.float32), 16000.0, "integer number of Hz"),
        (np.zeros(1600, dtype=np.float32), True, "integer number of Hz"),
        (np.zeros((2, 1600), dtype=np.float32), 16000, r"mono \(1-D\), got shape \(2, 1600\)"),
        (np.full(1600, 20000.0, dtype=np.float32), 16000, "scale integer PCM"),
        ([0.0, 0.1], 16000, "numpy array, got list"),
        (np.array(["a", "b"]), 16000, "dtype"),
    ],
)
def test_bad_audio_gives_a_clear_error(audio, rate, message):
    with pytest.raises(BadAudioError, match=message):
        prepare_audio(audio, rate)


def test_bad_audio_is_refused_before_any_model_loads():
    with pytest.raises(BadAudioError, match="NaN"):
        align("whisper-timestamped", np.full(16000, np.nan, dtype=np.float32), 16000, "hello")


def test_unknown_aligner_and_oracle_are_refused():
    audio = np.zeros(16000, dtype=np.float32)
    with pytest.raises(Exception, match="unknown aligner 'whisperx'"):
        align("whisperx", audio, 16000, "hello")
    with pytest.raises(Exception, match="oracle"):
        align("oracle", audio, 16000, "hello")


def test_int16_is_scaled_and_other_rates_resampled():
    out = prepare_audio(np.array([16384, -32768] * 4000, dtype=np.int16), 16000)
    assert out.dtype == np.float32 and out.max() == 0.5 and out.min() == -1.0
    tone = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32)
    resampled = prepare_audio(tone, 44100)
    assert resampled.dtype == np.float32 and len(resampled) == 16000
    # the tone survives: its spectrum peaks at 440 Hz
    assert abs(np.argmax(np.abs(np.fft.rfft(resampled))) * 16000 / len(resampled) - 440) <= 1
