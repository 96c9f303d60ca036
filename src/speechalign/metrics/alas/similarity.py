"""Per-layer similarity between audio positions and transcript positions, audio-major.

``similarity(audio, text)`` maps hidden states ``audio (L, A, D)`` and ``text (L, T, D)`` to ``(L, A, T)``
float32: rows are audio positions and columns text positions, always, whatever the lengths. fp16/bf16 input
(torch or numpy) is promoted to float32 before any arithmetic.

Normalisations are named and registered in ``NORMALISATIONS``; each one rewrites a sequence's hidden states
``(L, N, D) -> (L, N, D)`` before the cosine, and the name travels with every score:

- ``"cosine"``: raw cosine (what the ALAS paper uses);
- ``"centred"``: subtract each sequence's mean over its positions (per layer) first, so that a direction
  shared by all positions of a run does not dominate the cosine.

A normalisation registers with a ``kind`` that says how it is applied (``NORMALISATION_KINDS``):
``"hidden"`` (the two above), ``fn(hidden) -> hidden``; ``"fitted"``, ``fn(hidden, role_stats) -> hidden``
with statistics fitted on a corpus, passed to ``similarity(..., statistics=...)`` as an object with ``.audio``
and ``.text`` (one per run role; ``speechalign.metrics.alas.CorpusStatistics``); ``"matrix"``,
``fn(sim) -> sim`` on the ``(L, A, T)`` raw cosine. ``speechalign.metrics.alas.normalisations`` registers
``corpus-centred``, ``pc-removed`` (fitted) and ``standardised`` (matrix).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["NORMALISATIONS", "register_normalisation", "similarity"]

Normalisation = Callable[..., torch.Tensor]  # (L, N, D) float32 -> (L, N, D) float32 (see the kinds)
NORMALISATIONS: dict[str, Normalisation] = {}
NORMALISATION_KINDS: dict[str, str] = {}  # name -> "hidden" | "fitted" | "matrix"
_KINDS = ("hidden", "fitted", "matrix")


def register_normalisation(name: str, kind: str = "hidden") -> Callable[[Normalisation], Normalisation]:
    """Register a normalisation under ``name`` (a decorator); ``kind`` as in the module docstring."""
    if kind not in _KINDS:
        raise ValueError(f"normalisation kind must be one of {_KINDS}; got {kind!r}")

    def register(fn: Normalisation) -> Normalisation:
        if name in NORMALISATIONS:
            raise ValueError(f"normalisation {name!r} is already registered")
        NORMALISATIONS[name] = fn
        NORMALISATION_KINDS[name] = kind
        return fn

    return register


@register_normalisation("cosine")
def _raw(hidden: torch.Tensor) -> torch.Tensor:
    return hidden


@register_normalisation("centred")
def _centred(hidden: torch.Tensor) -> torch.Tensor:
    return hidden - hidden.mean(dim=1, keepdim=True)  # (L, N, D) minus (L, 1, D)


def _as_float32_tensor(hidden, role: str) -> torch.Tensor:  # -> (L, N, D) float32, on CPU
    if isinstance(hidden, np.ndarray):
        if not (np.issubdtype(hidden.dtype, np.floating) or np.issubdtype(hidden.dtype, np.integer)):
            raise ValueError(f"{role} hidden states must be a numeric array; got dtype {hidden.dtype}")
        hidden = torch.from_numpy(np.ascontiguousarray(hidden))
    elif not isinstance(hidden, torch.Tensor):
        raise ValueError(f"{role} hidden states must be a numpy array or a torch tensor; got {type(hidden)}")
    if hidden.ndim != 3:
        raise ValueError(
            f"{role} hidden states must be (layers, positions, width); got shape {tuple(hidden.shape)}"
            " (stack the per-layer tensors of one utterance, e.g. torch.stack(hidden_states)[:, 0])"
        )
    if 0 in hidden.shape:
        raise ValueError(f"{role} hidden states have an empty axis: shape {tuple(hidden.shape)}")
    return hidden.detach().to(device="cpu", dtype=torch.float32)


def _inverse_norms(hidden: torch.Tensor, role: str, normalisation: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(hidden, dim=-1)  # (L, N)
    # The norms double as the NaN/inf scan: any non-finite entry makes its row's norm non-finite.
    bad = ~torch.isfinite(norms)
    if bad.any():
        layer, position = (int(k) for k in bad.nonzero()[0])
        raise ValueError(
            f"{role} hidden states contain NaN or inf (or overflow float32) at layer {layer},"
            f" position {position}; check the forward pass (fp16 overflow?)"
        )
    zero = norms == 0
    if zero.any():
        layer, position = (int(k) for k in zero.nonzero()[0])
        hint = " (centring a sequence of one position, or of identical ones, leaves zeros)" * (
            normalisation == "centred"
        )
        raise ValueError(
            f"{role} hidden state at layer {layer}, position {position} has zero norm after"
            f" {normalisation!r} normalisation: its cosine is undefined{hint}"
        )
    return norms.reciprocal_()


def similarity(audio, text, normalisation: str = "cosine", statistics=None) -> np.ndarray:
    """Cosine similarity of every audio position with every text position, per layer.

    ``audio``: ``(L, A, D)``; ``text``: ``(L, T, D)``; numpy or torch, any float dtype.
    Returns ``(L, A, T)`` float32, C-contiguous (audio-major, what ``maximum_path`` reads without a copy):
    ``sim[l, i, j] = <a_li, t_lj> / (|a_li| |t_lj|)`` after the named normalisation. ``statistics``: the
    corpus statistics a ``"fitted"`` normalisation needs (``.audio``, ``.text``); ignored by the others.

    >>> a = np.array([[[1.0, 0.0], [2.0, 2.0], [0.0, 3.0]]])  # (1, 3, 2)
    >>> t = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2)
    >>> similarity(a, t).astype(float).round(3).tolist()
    [[[1.0, 0.0], [0.707, 0.707], [0.0, 1.0]]]
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; registered: {sorted(NORMALISATIONS)}")
    audio = _as_float32_tensor(audio, "audio")
    text = _as_float32_tensor(text, "text")
    if audio.shape[0] != text.shape[0]:
        raise ValueError(f"audio has {audio.shape[0]} layers but text has {text.shape[0]}; they must match")
    if audio.shape[2] != text.shape[2]:
        raise ValueError(f"audio width {audio.shape[2]} differs from text width {text.shape[2]}")
    normalise, kind = NORMALISATIONS[normalisation], NORMALISATION_KINDS[normalisation]
    if kind == "fitted":
        if statistics is None:
            raise ValueError(
                f"normalisation {normalisation!r} is fitted on a corpus: pass statistics="
                "speechalign.metrics.alas.fit_statistics(audio_sequences, text_sequences)"
            )
        audio = normalise(audio, statistics.audio)  # (L, A, D)
        text = normalise(text, statistics.text)  # (L, T, D)
    elif kind == "hidden":
        audio = normalise(audio)  # (L, A, D)
        text = normalise(text)  # (L, T, D)
    inv_audio = _inverse_norms(audio, "audio", normalisation)  # (L, A)
    inv_text = _inverse_norms(text, "text", normalisation)  # (L, T)
    # Matmul first, then scale the (L, A, T) result: cheaper than normalising (L, N, D) inputs when T, A < D.
    sim = torch.bmm(audio, text.transpose(1, 2))  # (L, A, T); BLAS reads the transpose, no copy
    sim.mul_(inv_audio.unsqueeze(2)).mul_(inv_text.unsqueeze(1))
    if kind == "matrix":
        sim = normalise(sim)  # (L, A, T)
    return sim.numpy()
