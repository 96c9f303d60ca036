"""The validity controls: runs where the right ALAS is known before anything is measured.

Positive, the oracle: the "speech" positions are the LM's own input embeddings of the transcript tokens, each
repeated over the audio positions during which that token is spoken, run through the same LM where the
projected audio would be. The layout comes from the exact word times and the encoder's own geometry
(``speechalign.validity.timeline``), never from the reference path it is scored against nor from the
backend's declared frame rate, so a wrong frame length or offset in the backend shows as a high oracle ALAS.
A sweep degrades it: Gaussian noise of growing scale (relative to the RMS of the token embeddings) or random
time jitter (each position takes the token of a time displaced by N(0, jitter) seconds).

Positive through the real audio path, the aligned model (``speechalign.validity.aligned``): this audio through
a projector trained to map each position to the embedding of the token spoken then. The ruler runs from it to
alignment gone: at step w a share w of the projected audio's variation over positions is replaced by the
same variation in shuffled order (``MixedProjector``), so ALAS must rise with w; other models (the untrained
projector among them) are placed on it.

Negative: the audio of another utterance (cut or looped to this one's length, so the reference keeps its
shape) against this transcript; this utterance's audio played backwards; this audio through a freshly
initialised projector (the untrained control). ``audio``, the model as it is, is scored beside them, and so
is each placed model (``placed``: another composed backend with the same LM and frame rate).

Every condition of one utterance keeps the real audio run's number of positions A and the transcript's
tokens T, so all conditions share one reference path and one uniform path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from speechalign.backends import BackendInputError, Run, SpeechLLM
from speechalign.errors import UserFacingError

__all__ = [
    "NEGATIVES",
    "Condition",
    "MixedProjector",
    "conditions",
    "jittered_rows",
    "mismatched_wave",
    "oracle_embeddings",
    "projector_swapped",
    "untrained_projector",
    "with_audio_embeddings",
]

NEGATIVES = ("mismatched", "reversed", "untrained")


@dataclass(frozen=True)
class Condition:
    """One control. ``role``: positive (the noiseless oracle), sweep (a degraded oracle), aligned (the aligned
    model), ruler (a step between aligned and untrained), negative, model (the backend as it is) or placed
    (another model). ``source``: oracle, audio, aligned, ruler, mismatched, reversed, untrained or placed."""

    name: str
    role: str
    source: str
    noise: float = 0.0  # oracle noise std / RMS of the token embeddings
    jitter: float = 0.0  # oracle time jitter std, seconds
    mix: float = 0.0  # ruler: share of the untrained projector's output (0: aligned, 1: untrained)


def _level(value: float) -> str:
    return f"{value:g}"


def conditions(
    noise_scales: Sequence[float],
    jitter_seconds: Sequence[float],
    negatives: Sequence[str],
    ruler: Sequence[float] | None = None,
    placed: Sequence[str] = (),
):
    """The oracle and its two sweeps (levels above 0), the model, the aligned model and the ruler's steps
    (``ruler``: mixing shares in (0, 1), and 1; None: no aligned model), the named negatives and the placed
    models."""
    unknown = sorted(set(negatives) - set(NEGATIVES))
    if unknown:
        raise UserFacingError(f"unknown negative controls {unknown}; known: {list(NEGATIVES)}")
    out = [Condition("oracle", "positive", "oracle")]
    out += [Condition(f"oracle-noise-{_level(s)}", "sweep", "oracle", noise=s) for s in noise_scales if s > 0]
    out += [
        Condition(f"oracle-jitter-{_level(j)}", "sweep", "oracle", jitter=j) for j in jitter_seconds if j > 0
    ]
    out.append(Condition("audio", "model", "audio"))
    if ruler is not None:
        out.append(Condition("aligned", "aligned", "aligned"))
        steps = sorted({w for w in ruler if 0 < w < 1} | {1.0})
        out += [Condition(f"ruler-{_level(w)}", "ruler", "ruler", mix=w) for w in steps]
    out += [Condition(name, "negative", name) for name in negatives]
    out += [Condition(f"placed:{name}", "placed", "placed") for name in placed]
    return out


def jittered_rows(token_per_row: np.ndarray, jitter_frames: float, rng: np.random.Generator) -> np.ndarray:
    """Each audio position takes the reference token of a position displaced by ``N(0, jitter_frames)``
    (rounded, clipped to the utterance): ``(A,)`` int64. No jitter: the reference itself.

    >>> jittered_rows(np.array([0, 0, 1, 2]), 0.0, np.random.default_rng(0)).tolist()
    [0, 0, 1, 2]
    """
    n = len(token_per_row)
    if jitter_frames <= 0:
        return np.asarray(token_per_row, dtype=np.int64)
    shifted = np.arange(n) + np.rint(rng.normal(0.0, jitter_frames, size=n)).astype(np.int64)
    return np.asarray(token_per_row, dtype=np.int64)[np.clip(shifted, 0, n - 1)]


def oracle_embeddings(
    token_embeddings: torch.Tensor, rows: np.ndarray, noise: float, rng: np.random.Generator
) -> torch.Tensor:
    """``(A, D)``: token embedding ``rows[i]`` at audio position i, plus Gaussian noise of std
    ``noise * RMS(token_embeddings)`` per entry.

    ``token_embeddings``: ``(T, D)``, the LM's input embeddings of the transcript tokens (text run)."""
    oracle = token_embeddings[torch.from_numpy(np.asarray(rows, dtype=np.int64))].float()  # (A, D)
    if noise > 0:
        rms = token_embeddings.float().pow(2).mean().sqrt()
        draw = torch.from_numpy(rng.standard_normal(tuple(oracle.shape)).astype(np.float32))  # (A, D)
        oracle = oracle + noise * rms * draw
    return oracle


def with_audio_embeddings(run: Run, audio: torch.Tensor) -> Run:
    """The audio run with its audio positions replaced by ``audio (A, D)`` (same A), the prompt unchanged.

    Backends whose runs carry ``inputs_embeds`` (the composed one) take this; others cannot."""
    embeds = run.payload.get("inputs_embeds")
    if embeds is None:
        raise BackendInputError("this backend's runs carry no inputs_embeds: the oracle control needs them")
    start, stop = run.span
    if audio.shape[0] != stop - start:
        raise ValueError(f"oracle has {audio.shape[0]} positions; the run's audio span has {stop - start}")
    embeds = embeds.clone()  # (1, S, D)
    embeds[0, start:stop] = audio.to(embeds.dtype)
    return replace(run, payload={**run.payload, "inputs_embeds": embeds})


def mismatched_wave(other: np.ndarray, n_samples: int) -> np.ndarray:
    """Another utterance's waveform cut or looped to ``n_samples`` (so A matches this utterance's).

    >>> mismatched_wave(np.arange(3.0), 7).tolist()
    [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
    """
    return np.resize(np.asarray(other, dtype=np.float32), n_samples)


class MixedProjector(nn.Module):
    """The aligned projector's output with a share ``mix`` of its variation over positions replaced by the
    same variation in shuffled order: ``mean + c * ((1 - mix) * (a - mean) + mix * (a[perm] - mean))``, the
    mean over the sequence's positions, ``c`` keeping the variation's RMS, ``perm`` a fixed random order.
    At ``mix = 0`` the aligned projector; at ``mix = 1`` the same vectors, so the same statistics, with no
    alignment left: no normalisation can tell the steps apart by anything but alignment. (Mixing in the
    untrained projector's output instead left the ruler flat under pc-removed, which projects that output's
    few dominant directions away.)"""

    def __init__(self, aligned: nn.Module, mix: float, seed: int = 0):
        super().__init__()
        self.aligned, self.mix, self.seed = aligned, float(mix), seed
        self.config = aligned.config

    def output_length(self, n_frames: int) -> int:
        return self.aligned.output_length(n_frames)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, F, d) -> (B, F // stack, D)
        aligned = self.aligned(frames)
        if self.mix == 0:
            return aligned
        order = torch.randperm(aligned.shape[1], generator=torch.Generator().manual_seed(self.seed))
        mean = aligned.mean(dim=1, keepdim=True)  # (B, 1, D)
        own, shuffled = aligned - mean, aligned[:, order] - mean
        keep_rms = 1 / ((1 - self.mix) ** 2 + self.mix**2) ** 0.5  # two independent halves add in quadrature
        return mean + keep_rms * ((1 - self.mix) * own + self.mix * shuffled)


@contextlib.contextmanager
def projector_swapped(backend: SpeechLLM, projector: nn.Module) -> Iterator[None]:
    """Inside the block the backend's (semantic) projector is ``projector``."""
    own = getattr(backend, "projector", None)
    if own is None:
        raise BackendInputError(f"{type(backend).__name__} has no projector to swap")
    backend.projector = projector.eval()
    try:
        yield
    finally:
        backend.projector = own


def untrained_projector(backend: SpeechLLM, seed: int) -> nn.Module:
    """A freshly initialised projector of the backend's projector's shape (the untrained control)."""
    projector = getattr(backend, "projector", None)
    if projector is None:
        raise BackendInputError(
            f"{type(backend).__name__} has no projector to swap: drop 'untrained' from validity.negatives"
        )
    return type(projector).initialised(projector.config, seed=seed)


def condition_seed(seed: int, utterance_index: int, condition_index: int) -> np.random.Generator:
    """One generator per (seed, utterance, condition): the same draws in the fitting and the scoring pass."""
    return np.random.default_rng([seed, utterance_index, condition_index])
