"""Paralinguistic encoder candidates and the measurement that chooses between them.

AZEROS gives the LLM a second, paralinguistic encoder next to the semantic Whisper encoder. Which pretrained
encoder carries speaker and prosody information best is measured here, not assumed: each candidate turns a
clip into one utterance vector (mean over its frames), and two probes trained on the paralinguistic set's
``train`` voices are scored on its speaker-disjoint ``test`` voices:

- nearest centroid (z-scored with the train statistics; cosine to the class means);
- a ridge linear probe (closed form, one-vs-rest, lambda 1.0 on z-scored features).

Candidates (``CANDIDATES``):

- ``whisper-L{k}``: the Whisper encoder's block ``k`` output (k = 0 is the input to block 1), unpadded mode,
  as the semantic features (``speechalign.backends.encode_unpadded``);
- ``resemblyzer``: the pretrained GE2E speaker LSTM of ``Resemblyzer==0.1.4`` (its ``pretrained.pt``, loaded
  with ``weights_only``), with its 40-band mel frontend rebuilt from ``transformers.audio_utils`` (no librosa,
  no webrtcvad: the clips are synthetic and have no long silences to trim);
- ``pitch-stats``: hand-made F0 (autocorrelation) and energy statistics; no pretrained model, a floor.

    rows = probe_candidates(utterances, {"whisper-L2": fn, ...})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from speechalign.errors import UserFacingError
from speechalign.models.resemblyzer import SpeakerLSTM

SAMPLE_RATE = 16000
PROBE_LABELS = ("gender", "prosody_style")


# --- Whisper intermediate layers ---------------------------------------------------------------------------
@torch.inference_mode()
def whisper_layer_frames(encoder, feature_extractor, wave: np.ndarray, layers: Sequence[int]) -> dict:
    """``{k: (P, d)}``: block ``k``'s output for each ``k`` in ``layers`` (0 = before block 1; the last
    index is the final layer-normed output, i.e. the semantic features), from one unpadded forward: the
    composed backend's own ``encode_unpadded_layers``, so training features equal inference ones."""
    from speechalign.backends.composed import encode_unpadded_layers

    mel = feature_extractor(
        wave, sampling_rate=SAMPLE_RATE, padding="longest", return_tensors="pt"
    ).input_features  # (1, n_mels, F)
    weight = next(encoder.parameters())
    captured = encode_unpadded_layers(encoder, mel.to(weight.device, weight.dtype), layers)
    return {k: captured[k][0].float().cpu() for k in layers}


# --- Resemblyzer's speaker LSTM (the network: speechalign.models.resemblyzer) -------------------------------
def resemblyzer_mel(wave: np.ndarray) -> np.ndarray:
    """``(T, 40)`` power mel frames, 25 ms windows every 10 ms, like Resemblyzer's librosa frontend
    (volume first normalised up to -30 dBFS, as Resemblyzer does)."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    rms = np.sqrt(np.mean(wave.astype(np.float64) ** 2)) + 1e-12
    gain = 10 ** ((-30 - 20 * np.log10(rms)) / 20)
    wave = wave * max(gain, 1.0)  # increase only
    filters = mel_filter_bank(201, 40, 0.0, 8000.0, SAMPLE_RATE, norm="slaney", mel_scale="slaney")
    spec = spectrogram(
        wave.astype(np.float32),
        window_function(400, "hann"),
        frame_length=400,
        hop_length=160,
        power=2.0,
        mel_filters=filters,
        center=True,
        pad_mode="constant",
    )  # (40, T)
    return spec.T.astype(np.float32)


@torch.inference_mode()
def resemblyzer_partials(
    model: SpeakerLSTM, wave: np.ndarray, window: int = 160, hop: int = 40
) -> torch.Tensor:
    """``(W, 256)`` partial-utterance embeddings over ``window``-frame windows every ``hop`` frames
    (Resemblyzer embeds 1.6 s partials and averages them); a clip shorter than one window gives one."""
    mel = torch.from_numpy(resemblyzer_mel(wave))  # (T, 40)
    starts = list(range(0, max(len(mel) - window, 0) + 1, hop))
    chunks = torch.stack([_padded(mel[s : s + window], window) for s in starts])  # (W, window, 40)
    return model.frame_embeddings(chunks)[:, -1]  # (W, 256): read out at each window's end


def _padded(chunk: torch.Tensor, length: int) -> torch.Tensor:
    if len(chunk) >= length:
        return chunk
    return torch.cat([chunk, chunk.new_zeros(length - len(chunk), chunk.shape[1])])


# --- pitch and energy statistics ----------------------------------------------------------------------------
def pitch_stats(wave: np.ndarray, frame: int = 640, hop: int = 320) -> np.ndarray:
    """``(7,)``: mean/std/range of log F0 over voiced frames, voiced share, mean/std of frame energy (dB),
    frames per second above the median energy (a rate proxy). F0 by normalised autocorrelation, 60-400 Hz."""
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    f0s, energies = [], []
    for s in range(0, max(len(wave) - frame, 0) + 1, hop):
        x = wave[s : s + frame].astype(np.float64)
        x = x - x.mean()
        energy = float(np.sum(x**2)) + 1e-10
        energies.append(10 * np.log10(energy / frame))
        ac = np.correlate(x, x, "full")[frame - 1 :] / energy  # (frame,)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            f0s.append(np.log(SAMPLE_RATE / lag))
    energies_arr = np.array(energies)
    f0 = np.array(f0s) if f0s else np.zeros(1)
    active = float(np.mean(energies_arr > np.median(energies_arr)))
    return np.array(
        [
            f0.mean(),
            f0.std(),
            np.percentile(f0, 90) - np.percentile(f0, 10),
            len(f0s) / max(len(energies), 1),
            energies_arr.mean(),
            energies_arr.std(),
            active * SAMPLE_RATE / hop,
        ],
        dtype=np.float32,
    )


# --- probes -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    candidate: str
    label: str
    nearest_centroid: float  # accuracy on the test voices
    linear_probe: float
    chance: float  # majority-class share of the test voices
    n_train: int
    n_test: int


def _zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def nearest_centroid_accuracy(x_train, y_train, x_test, y_test) -> float:
    x_train, x_test = _zscore(x_train, x_test)
    classes = sorted(set(y_train))
    centroids = np.stack([x_train[np.array(y_train) == c].mean(0) for c in classes])  # (C, d)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-8
    unit = x_test / (np.linalg.norm(x_test, axis=1, keepdims=True) + 1e-8)
    predicted = np.array(classes)[np.argmax(unit @ centroids.T, axis=1)]
    return float(np.mean(predicted == np.array(y_test)))


def ridge_probe_accuracy(x_train, y_train, x_test, y_test, lam: float = 1.0) -> float:
    x_train, x_test = _zscore(x_train, x_test)
    classes = sorted(set(y_train))
    onehot = (np.array(y_train)[:, None] == np.array(classes)[None]).astype(np.float64)  # (N, C)
    xb = np.hstack([x_train, np.ones((len(x_train), 1))])  # (N, d+1)
    weights = np.linalg.solve(xb.T @ xb + lam * np.eye(xb.shape[1]), xb.T @ onehot)  # (d+1, C)
    scores = np.hstack([x_test, np.ones((len(x_test), 1))]) @ weights
    return float(np.mean(np.array(classes)[np.argmax(scores, axis=1)] == np.array(y_test)))


def probe(candidate: str, vectors: np.ndarray, utterances: Sequence, label: str) -> ProbeResult:
    labels = [getattr(u, label) for u in utterances]
    train = [i for i, u in enumerate(utterances) if u.split == "train" and labels[i] is not None]
    test = [i for i, u in enumerate(utterances) if u.split == "test" and labels[i] is not None]
    if not train or not test:
        raise UserFacingError(f"the probe needs labelled train and test utterances for {label!r}")
    y_train, y_test = [labels[i] for i in train], [labels[i] for i in test]
    counts = {c: y_test.count(c) for c in set(y_test)}
    args = (vectors[train], y_train, vectors[test], y_test)
    return ProbeResult(
        candidate,
        label,
        round(nearest_centroid_accuracy(*args), 4),
        round(ridge_probe_accuracy(*args), 4),
        round(max(counts.values()) / len(y_test), 4),
        len(train),
        len(test),
    )


def probe_candidates(
    utterances: Sequence, vectors: Mapping[str, np.ndarray], labels: Sequence[str] = PROBE_LABELS
) -> list[ProbeResult]:
    """Every (candidate, label) probe; ``vectors[name]`` is ``(N, d)`` in the order of ``utterances``."""
    return [probe(name, v, utterances, label) for name, v in vectors.items() for label in labels]


def choose(results: Sequence[ProbeResult], candidates: Sequence[str] | None = None) -> str:
    """The candidate with the best mean linear-probe accuracy over the labels (ties: the first listed)."""
    names = list(dict.fromkeys(r.candidate for r in results)) if candidates is None else list(candidates)
    score = {n: np.mean([r.linear_probe for r in results if r.candidate == n]) for n in names}
    return max(names, key=lambda n: score[n])


def utterance_vectors(extract: Callable[[np.ndarray], np.ndarray], waves: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, d)``: one vector per clip from a frame extractor (``(T, d)`` -> mean over T)."""
    rows = []
    for wave in waves:
        frames = np.asarray(extract(wave))
        rows.append(frames.reshape(-1, frames.shape[-1]).mean(0))
    return np.stack(rows)
