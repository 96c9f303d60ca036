"""The validity controls: runs where the right ALAS is known before anything is measured.

Positive, the oracle: the "speech" positions are the LM's own input embeddings of the transcript tokens, each
repeated over the audio positions the reference assigns to it (the word times at the backend's frame rate),
run through the same LM where the projected audio would be. Its alignment is the reference by construction.
A sweep degrades it: Gaussian noise of growing scale (relative to the RMS of the token embeddings) or random
time jitter (each position takes the token of a time displaced by N(0, jitter) seconds).

Negative: the audio of another utterance (cut or looped to this one's length, so the reference keeps its
shape) against this transcript; this utterance's audio played backwards; this audio through a freshly
initialised projector (the untrained control). ``audio``, the model as it is, is scored beside them.

Every condition of one utterance keeps the real audio run's number of positions A and the transcript's
tokens T, so all conditions share one reference path and one uniform path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from speechalign.backends import BackendInputError, Run, SpeechLLM
from speechalign.errors import UserFacingError

__all__ = [
    "NEGATIVES",
    "Condition",
    "conditions",
    "jittered_rows",
    "mismatched_wave",
    "oracle_embeddings",
    "swapped_projector",
    "with_audio_embeddings",
]

NEGATIVES = ("mismatched", "reversed", "untrained")


@dataclass(frozen=True)
class Condition:
    """One control. ``role``: positive (the noiseless oracle), sweep (a degraded oracle), negative, or model
    (the backend as it is). ``source``: oracle, audio, mismatched, reversed or untrained."""

    name: str
    role: str
    source: str
    noise: float = 0.0  # oracle noise std / RMS of the token embeddings
    jitter: float = 0.0  # oracle time jitter std, seconds


def _level(value: float) -> str:
    return f"{value:g}"


def conditions(noise_scales: Sequence[float], jitter_seconds: Sequence[float], negatives: Sequence[str]):
    """The positive control, its two sweeps (levels above 0), the model, and the named negatives."""
    unknown = sorted(set(negatives) - set(NEGATIVES))
    if unknown:
        raise UserFacingError(f"unknown negative controls {unknown}; known: {list(NEGATIVES)}")
    out = [Condition("oracle", "positive", "oracle")]
    out += [Condition(f"oracle-noise-{_level(s)}", "sweep", "oracle", noise=s) for s in noise_scales if s > 0]
    out += [
        Condition(f"oracle-jitter-{_level(j)}", "sweep", "oracle", jitter=j) for j in jitter_seconds if j > 0
    ]
    out.append(Condition("audio", "model", "audio"))
    out += [Condition(name, "negative", name) for name in negatives]
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


@contextlib.contextmanager
def swapped_projector(backend: SpeechLLM, seed: int) -> Iterator[None]:
    """Inside the block the backend's projector is a freshly initialised one (the untrained control)."""
    projector = getattr(backend, "projector", None)
    if projector is None:
        raise BackendInputError(
            f"{type(backend).__name__} has no projector to swap: drop 'untrained' from validity.negatives"
        )
    fresh = type(projector).initialised(projector.config, seed=seed)
    backend.projector = fresh.eval()
    try:
        yield
    finally:
        backend.projector = projector


def condition_seed(seed: int, utterance_index: int, condition_index: int) -> np.random.Generator:
    """One generator per (seed, utterance, condition): the same draws in the fitting and the scoring pass."""
    return np.random.default_rng([seed, utterance_index, condition_index])


def untrained_is_model(spec: Mapping) -> bool:
    """True when the backend itself has an untrained projector (its ``untrained`` control is itself)."""
    return spec.get("kind") == "composed" and not spec.get("projector")
