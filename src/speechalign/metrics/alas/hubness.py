"""Hubness of a similarity matrix: do a few text tokens draw most audio positions?

Raw cosines of a small LM are dominated by "hub" tokens, similar to every audio position
(docs/facts.md#raw-cosine-at-small-scale): the MAS path then parks on them. Two diagnostics per layer:

- ``hub_share``: the share of audio positions the MAS path gives to its most used token (1/T would be an even
  spread; 1: every position on one token);
- ``k_skewness``: the skewness of the k-occurrence distribution (Radovanovic et al., 2010): each audio
  position votes for its k most similar tokens; ``N_k(t)`` counts the votes token t gets; a long right tail
  (large positive skewness) means a few tokens are everybody's neighbours.

>>> import numpy as np
>>> sim = np.array([[[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.7, 0.1, 0.3]]])  # (L=1, A=3, T=3): token 0 is a hub
>>> h = hubness(sim, np.array([[0, 1, 2]]), k=1)
>>> round(float(h.hub_share[0]), 3), round(float(h.k_skewness[0]), 3)
(0.333, 0.707)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Hubness", "hubness"]


@dataclass(frozen=True)
class Hubness:
    hub_share: np.ndarray  # (L,) share of audio positions on the path's most used token
    k_skewness: np.ndarray  # (L,) skewness of the k-occurrence counts over tokens (0: no spread)
    k: int


def _skewness(counts: np.ndarray) -> np.ndarray:
    """Population skewness along the last axis; 0 where all counts are equal."""
    centred = counts - counts.mean(axis=-1, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=-1))
    third = (centred**3).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, third / np.where(std > 0, std, 1.0) ** 3, 0.0)


def hubness(sim: np.ndarray, paths: np.ndarray, k: int = 5) -> Hubness:
    """``sim``: ``(L, A, T)``; ``paths``: ``(L, A)`` MAS tokens; ``k`` neighbours per audio position (at most
    T). Returns per-layer ``Hubness``."""
    n_text = sim.shape[2]
    k = max(1, min(k, n_text))
    path_counts = np.stack([np.bincount(p, minlength=n_text) for p in paths])  # (L, T)
    hub_share = path_counts.max(axis=1) / paths.shape[1]
    neighbours = np.argpartition(-sim, k - 1, axis=2)[:, :, :k]  # (L, A, k) the k most similar tokens
    votes = np.stack([np.bincount(n.ravel(), minlength=n_text) for n in neighbours])  # (L, T)
    return Hubness(hub_share.astype(np.float64), _skewness(votes.astype(np.float64)), k)
