"""Normalisations beyond raw and centred cosine: two fitted on a corpus, one on the similarity matrix.

Raw cosines between hidden states of a small LM sit in a narrow band
(docs/facts.md#raw-cosine-at-small-scale: 0.45-0.70
everywhere) because every position shares a few dominant directions (anisotropy). These remove them:

- ``"corpus-centred"`` (fitted): subtract the per-layer mean of the corpus's positions of the same role;
- ``"pc-removed"`` (fitted): the same, then project out each layer's top principal components (as in
  "all-but-the-top", Mu & Viswanath 2018); their number is fixed when the statistics are fitted;
- ``"standardised"`` (matrix): z-score each row and each column of the raw cosine matrix, and average the two.

Fitted state is explicit: ``fit_statistics`` (or a ``MomentAccumulator`` per role, fed one sequence at a time,
so no corpus of hidden states is ever held) returns a ``CorpusStatistics``; pass it to ``similarity`` or
``alas`` as ``statistics=``. Audio runs and text runs are fitted separately (the roles): the two live in
different regions of the space (the modality gap), and one shared mean would leave that gap in the cosine.
Statistics are label-free, so fitting them on the corpus that is scored leaks no reference.

>>> import numpy as np
>>> from speechalign.metrics.alas import similarity
>>> rng = np.random.default_rng(0)
>>> audio, text = rng.standard_normal((2, 1, 6, 4)) + 5.0  # (L=1, N=6, D=4) each, a shared offset of 5
>>> stats = fit_statistics([audio], [text], components=1)
>>> bool(abs(similarity(audio, text, "corpus-centred", stats)).mean() < abs(similarity(audio, text)).mean())
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from speechalign.metrics.alas.similarity import _as_float32_tensor, register_normalisation

__all__ = ["CorpusStatistics", "MomentAccumulator", "RoleStatistics", "fit_statistics"]

_STD_FLOOR = 1e-6  # a constant row or column of the matrix stays finite (all zeros after standardising)


@dataclass(frozen=True)
class RoleStatistics:
    """Per-layer statistics of one run role over a corpus: ``mean (L, D)``, ``components (L, k, D)``
    (orthonormal rows, largest variance first), and the number of positions they were fitted on."""

    mean: torch.Tensor
    components: torch.Tensor
    positions: int

    def check_fits(self, hidden: torch.Tensor) -> None:
        if self.mean.shape != (hidden.shape[0], hidden.shape[2]):
            raise ValueError(
                f"statistics were fitted on (layers, width) {tuple(self.mean.shape)}; the hidden states are"
                f" {(hidden.shape[0], hidden.shape[2])}: fit them on this model's runs"
            )


@dataclass(frozen=True)
class CorpusStatistics:
    """The fitted state of the ``"fitted"`` normalisations: one ``RoleStatistics`` per run role."""

    audio: RoleStatistics
    text: RoleStatistics


class MomentAccumulator:
    """Summable first and second moments of one role's positions, per layer, one sequence at a time.

    Memory: ``(L, D, D)`` float64 (31 x 576 x 576: 82 MB for SmolLM2-135M); nothing per position is kept."""

    def __init__(self) -> None:
        self.count = 0
        self.sum: torch.Tensor | None = None  # (L, D) float64
        self.outer: torch.Tensor | None = None  # (L, D, D) float64

    def update(self, hidden) -> None:
        """Add one sequence's hidden states ``(L, N, D)``."""
        hidden = _as_float32_tensor(hidden, "fitted")
        gram = torch.bmm(hidden.transpose(1, 2), hidden).double()  # (L, D, D): f32 matmul, f64 sum
        total = hidden.sum(dim=1, dtype=torch.float64)  # (L, D)
        if self.sum is None:
            self.sum, self.outer = total, gram
        else:
            if total.shape != self.sum.shape:
                raise ValueError(f"sequence (layers, width) {tuple(total.shape)} != {tuple(self.sum.shape)}")
            self.sum += total
            self.outer += gram
        self.count += hidden.shape[1]

    def compute(self, components: int) -> RoleStatistics:
        """Mean and the top ``components`` principal directions of everything added."""
        if self.count < 2:
            raise ValueError(f"statistics need at least 2 positions; got {self.count}")
        mean = self.sum / self.count  # (L, D)
        covariance = self.outer / self.count - mean.unsqueeze(2) * mean.unsqueeze(1)  # (L, D, D)
        if not 0 <= components <= mean.shape[1]:
            raise ValueError(f"components must be in [0, {mean.shape[1]}]; got {components}")
        top = top_eigenvectors(covariance, components)  # (L, k, D)
        return RoleStatistics(mean=mean.float(), components=top.float().contiguous(), positions=self.count)


def top_eigenvectors(covariance: torch.Tensor, k: int) -> torch.Tensor:
    """``(L, k, D)``: each layer's ``k`` leading eigenvectors of ``covariance (L, D, D)``, largest first.
    Only those k are computed (LAPACK's subset driver: 9.8x faster than the full decomposition at D = 576,
    k = 5, 33 layers; benchmarks/bench_alas.py); a vector's sign is arbitrary, which projecting a component
    out does not see."""
    layers, width, _ = covariance.shape
    if k == 0:
        return covariance.new_zeros(layers, 0, width)
    vectors = [
        scipy.linalg.eigh(layer, subset_by_index=[width - k, width - 1], driver="evr")[1]  # ascending, (D, k)
        for layer in covariance.cpu().numpy()
    ]
    return torch.from_numpy(np.stack(vectors)).flip(2).transpose(1, 2).to(covariance.device)


def fit_statistics(audio_sequences: Iterable, text_sequences: Iterable, components: int) -> CorpusStatistics:
    """``CorpusStatistics`` from per-utterance hidden states ``(L, A_i, D)`` and ``(L, T_i, D)``."""
    roles = []
    for sequences in (audio_sequences, text_sequences):
        accumulator = MomentAccumulator()
        for hidden in sequences:
            accumulator.update(hidden)
        roles.append(accumulator.compute(components))
    return CorpusStatistics(audio=roles[0], text=roles[1])


@register_normalisation("corpus-centred", kind="fitted")
def _corpus_centred(hidden: torch.Tensor, stats: RoleStatistics) -> torch.Tensor:
    stats.check_fits(hidden)
    return hidden - stats.mean.unsqueeze(1)  # (L, N, D) minus (L, 1, D)


@register_normalisation("pc-removed", kind="fitted")
def _pc_removed(hidden: torch.Tensor, stats: RoleStatistics) -> torch.Tensor:
    stats.check_fits(hidden)
    centred = hidden - stats.mean.unsqueeze(1)  # (L, N, D)
    coords = torch.bmm(centred, stats.components.transpose(1, 2))  # (L, N, k)
    return centred - torch.bmm(coords, stats.components)  # (L, N, D)


def _zscore(sim: torch.Tensor, dim: int) -> torch.Tensor:
    mean = sim.mean(dim=dim, keepdim=True)
    std = sim.std(dim=dim, keepdim=True, correction=0).clamp_min(_STD_FLOOR)
    return (sim - mean) / std


@register_normalisation("standardised", kind="matrix")
def _standardised(sim: torch.Tensor) -> torch.Tensor:  # (L, A, T) -> (L, A, T)
    # Rows: which token each audio position prefers; columns: which positions each token prefers. Averaging
    # both removes a token (or position) that is similar to everything without favouring either axis.
    return 0.5 * (_zscore(sim, dim=2) + _zscore(sim, dim=1))


def diagonal_contrast(sim: np.ndarray, token_per_row: np.ndarray) -> np.ndarray:
    """The MAS-free diagnostic per layer: mean similarity on the reference cells minus the matrix mean.

    ``sim``: ``(L, A, T)``; ``token_per_row``: ``(A,)`` reference token of each audio row. Returns ``(L,)``
    float64; higher means the reference cells stand out (0: they look like any other cell).

    >>> sim = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2)
    >>> diagonal_contrast(sim, np.array([0, 1])).tolist()
    [0.5]
    """
    rows = np.arange(sim.shape[1])
    on_reference = sim[:, rows, token_per_row].mean(axis=1, dtype=np.float64)  # (L,)
    return on_reference - sim.mean(axis=(1, 2), dtype=np.float64)
