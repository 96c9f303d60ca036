"""Monotonic alignment search (MAS): the maximum-sum monotonic path through a similarity matrix.

The matrix is audio-major, ``(A, T)``: rows are audio positions, columns are text tokens. A path gives every
audio row exactly one token, ``path[i]``, and among all allowed paths it maximises ``sum_i sim[i, path[i]]``.

Allowed paths, for ``A >= T`` (the usual case, Glow-TTS MAS): ``path[0] == 0``, ``path[A-1] == T-1`` and each
step advances 0 or 1 token, so every token gets at least one row. Ties: a row stays on the current token when
staying scores at least as much, so spare rows go to later tokens; among equal-sum paths this returns the
pointwise latest one (the tests check it against brute force).

For ``A < T`` (fewer audio positions than tokens) a non-skipping path cannot exist. We keep "one token per
row, start at token 0, end at token T-1" and let the path skip: it strictly increases, each step advancing
1 or more tokens, and ``A - 2`` rows pick the middle tokens that maximise the sum. Ties pick the later
predecessor, as above. With a single row (``A == 1``) the start rule wins: the path is ``[0]``.

Both are computed by numba kernels, batched over layers with ``prange`` (one call per utterance): an
audio-major sweep with 1-byte back-pointers that reads the similarity in the layout ``similarity`` writes.

Threads: numba's OpenMP workers and torch's share the cores. Right after torch ran in the same process,
torch's spinning workers made the 2-thread ``prange`` call 10-20x slower on 2 cores (1.3 ms -> 12-24 ms for
33 layers of 750x150); ``OMP_WAIT_POLICY=PASSIVE`` (set before torch is imported), ``NUMBA_NUM_THREADS=1``
or ``NUMBA_THREADING_LAYER=workqueue`` avoid it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["maximum_path", "path_score"]


@njit(cache=True, nogil=True)
def _non_skipping_path(sim, path):  # sim (A, T) with A >= T; path (A,) int32, written in place
    n_audio, n_text = sim.shape
    # Unsigned counters let LLVM drop negative-index checks and vectorise the inner loop
    # (docs/facts.md#mas-kernel-speed).
    rows = np.uint64(n_audio)
    cols = np.uint64(n_text)
    one = np.uint64(1)
    slack = rows - cols  # how many rows may stay; cells left of row i - slack cannot reach the end
    # Two row buffers of best sums; columns never written stay -inf (unreachable cells).
    prev = np.full(n_text, -np.inf, dtype=sim.dtype)
    cur = np.full(n_text, -np.inf, dtype=sim.dtype)
    advanced = np.zeros((n_audio, n_text), dtype=np.uint8)  # 1-byte back-pointers: 1 = came from j-1
    prev[0] = sim[0, 0]
    for i in range(one, rows):
        lo = i - slack if i > slack else np.uint64(0)
        hi = i if i < cols - one else cols - one
        row = sim[i]
        back = advanced[i]
        if lo == 0:
            cur[0] = prev[0] + row[0]
            lo = one
        for j in range(lo, hi + one):
            stay = prev[j]
            advance = prev[j - one]
            moved = advance > stay  # ties stay
            cur[j] = row[j] + (advance if moved else stay)
            back[j] = moved
        prev, cur = cur, prev
    token = n_text - 1
    for i in range(n_audio - 1, 0, -1):
        path[i] = token
        token -= advanced[i, token]
    path[0] = token


@njit(cache=True, nogil=True)
def _skipping_path(sim, path):  # sim (A, T) with A < T; path (A,) int32, written in place
    n_audio, n_text = sim.shape
    prev = np.full(n_text, -np.inf, dtype=sim.dtype)
    cur = np.full(n_text, -np.inf, dtype=sim.dtype)
    came_from = np.zeros((n_audio, n_text), dtype=np.int32)  # predecessor token of (i, j)
    prev[0] = sim[0, 0]
    for i in range(1, n_audio):
        cur[:] = -np.inf
        best = -np.inf
        best_token = 0
        # Row i may take tokens i .. T - A + i (strictly increasing, ending at T-1).
        for j in range(i, n_text - n_audio + i + 1):
            if prev[j - 1] >= best:  # ties: the later predecessor
                best = prev[j - 1]
                best_token = j - 1
            cur[j] = sim[i, j] + best
            came_from[i, j] = best_token
        prev, cur = cur, prev
    token = n_text - 1 if n_audio > 1 else 0
    for i in range(n_audio - 1, 0, -1):
        path[i] = token
        token = came_from[i, token]
    path[0] = token


@njit(cache=True, parallel=True)
def _paths_over_layers(sim, paths):  # sim (L, A, T); paths (L, A) int32
    skipping = sim.shape[1] < sim.shape[2]
    for layer in prange(sim.shape[0]):
        if skipping:
            _skipping_path(sim[layer], paths[layer])
        else:
            _non_skipping_path(sim[layer], paths[layer])


def maximum_path(sim: np.ndarray, *, check_finite: bool = True) -> np.ndarray:
    """Maximum-sum monotonic path per layer; see the module docstring for the allowed paths and ties.

    ``sim``: ``(L, A, T)`` or ``(A, T)``, float32 or float64, audio-major (rows = audio positions).
    Returns token indices, int32, ``(L, A)`` (or ``(A,)`` for a 2-D input).
    ``check_finite=False`` skips the NaN/inf scan when the caller already guarantees finite values.

    >>> maximum_path(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).tolist()
    [0, 0, 1]
    """
    sim = np.asarray(sim)
    if sim.ndim not in (2, 3):
        raise ValueError(f"similarity must be (A, T) or (L, A, T); got shape {sim.shape}")
    squeeze = sim.ndim == 2
    batch = sim[None] if squeeze else sim  # (L, A, T)
    if 0 in batch.shape:
        raise ValueError(f"similarity has an empty axis (L, A, T) = {batch.shape}: nothing to align")
    if batch.dtype not in (np.float32, np.float64):
        batch = batch.astype(np.float32)
    if check_finite and not np.isfinite(batch).all():
        raise ValueError("similarity contains NaN or inf; MAS needs finite scores")
    batch = np.ascontiguousarray(batch)  # a copy only for a strided view: pass audio-major input
    paths = np.empty(batch.shape[:2], dtype=np.int32)  # (L, A)
    _paths_over_layers(batch, paths)
    return paths[0] if squeeze else paths


def path_score(sim: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Sum of ``sim`` along ``path`` (float64), ``(L, A, T), (L, A) -> (L,)`` or ``(A, T), (A,) -> ()``."""
    sim = np.asarray(sim, dtype=np.float64)
    path = np.asarray(path)
    picked = np.take_along_axis(sim, path[..., None], axis=-1)[..., 0]  # (..., A)
    return picked.sum(axis=-1)
