"""The ALAS score: how far the MAS path through a layer's similarity matrix lies from the reference path.

For one layer with MAS path ``p`` and reference path ``r`` over ``A`` audio positions::

    ALAS = (1 / A) * sum_i |p_i - r_i|            (token units)
    ALAS_words = (1 / A) * sum_i |w(p_i) - w(r_i)|  (word units: w maps a token to its word)
    ALAS_uniform = the same for the uniform path u_i = round(i * (T - 1) / (A - 1))
    calibrated = ALAS / ALAS_uniform

Lower is better for all three: 0 means the path is the reference; a calibrated score below 1 means the layer
aligns better than a straight diagonal, above 1 worse. The calibrated score is NaN where the uniform path is
already perfect (``ALAS_uniform == 0``).

Word units compare the word of the path's token with the word of the reference token, so a path equal to the
reference scores 0 in words as in tokens. Where two words share one token (a word with no token of its own),
they count as one unit: the rows of the tokenless word are at the word of the token that carries it (not at
the word the clock says, which no path could reach).

The math exists once: ``_alas_update`` turns paths into summable counts (distance sums and row counts),
``_alas_compute`` finishes counts into scores. Two corpus aggregations, both named wherever reported:
``pooled_alas``, a ratio of sums over utterances (utterances weigh by their audio length; ours), and
``mean_alas``, the average of per-utterance ALAS (what the ALAS paper reports).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speechalign.metrics.alas.hubness import Hubness, hubness
from speechalign.metrics.alas.mas import maximum_path
from speechalign.metrics.alas.reference import ReferencePath
from speechalign.metrics.alas.similarity import similarity

__all__ = [
    "AlasCounts",
    "AlasResult",
    "AlasScores",
    "alas",
    "best_layer",
    "mean_alas",
    "pooled_alas",
    "uniform_path",
]


@dataclass(frozen=True)
class AlasCounts:
    """Summable state: per-layer sums over audio positions of ``|path - reference|``, and the row count."""

    distance_tokens: np.ndarray  # (L,) float64
    distance_words: np.ndarray  # (L,) float64
    uniform_distance_tokens: float
    uniform_distance_words: float
    n_rows: int

    def __add__(self, other: AlasCounts) -> AlasCounts:
        if len(self.distance_tokens) != len(other.distance_tokens):
            layers = (len(self.distance_tokens), len(other.distance_tokens))
            raise ValueError(f"cannot sum ALAS counts over {layers[0]} and {layers[1]} layers")
        return AlasCounts(
            distance_tokens=self.distance_tokens + other.distance_tokens,
            distance_words=self.distance_words + other.distance_words,
            uniform_distance_tokens=self.uniform_distance_tokens + other.uniform_distance_tokens,
            uniform_distance_words=self.uniform_distance_words + other.uniform_distance_words,
            n_rows=self.n_rows + other.n_rows,
        )


@dataclass(frozen=True)
class AlasScores:
    """Per-layer ALAS (lower is better) in token and word units, with the uniform baseline and calibration."""

    tokens: np.ndarray  # (L,) mean |path - reference| in tokens
    words: np.ndarray  # (L,) the same in words
    uniform_tokens: float  # mean |uniform - reference| in tokens
    uniform_words: float
    calibrated_tokens: np.ndarray  # (L,) tokens / uniform_tokens
    calibrated_words: np.ndarray  # (L,)


@dataclass(frozen=True)
class AlasResult:
    """All that one ALAS pass over one utterance produced; ``scores`` holds the numbers (lower is better)."""

    normalisation: str
    n_audio: int
    n_text: int
    n_words: int
    paths: np.ndarray  # (L, A) int32 MAS token per audio position, per layer
    uniform_path: np.ndarray  # (A,) int64
    reference: ReferencePath
    counts: AlasCounts
    scores: AlasScores
    hubness: Hubness

    @property
    def n_layers(self) -> int:
        return len(self.paths)

    def layer_scores(self, layer: int) -> dict[str, float | int]:
        """One layer's numbers as the flat fields every ALAS table shares (the scoring and validity
        stages add their own columns around them)."""
        s = self.scores
        return {
            "layer": layer,
            "alas_tokens": float(s.tokens[layer]),
            "alas_words": float(s.words[layer]),
            "uniform_tokens": float(s.uniform_tokens),
            "uniform_words": float(s.uniform_words),
            "calibrated_tokens": float(s.calibrated_tokens[layer]),
            "calibrated_words": float(s.calibrated_words[layer]),
            "n_audio": self.n_audio,
            "n_text": self.n_text,
            "hub_share": float(self.hubness.hub_share[layer]),
            "k_skewness": float(self.hubness.k_skewness[layer]),
        }


def uniform_path(n_audio: int, n_text: int) -> np.ndarray:
    """The straight diagonal ``u_i = round(i * (T - 1) / (A - 1))`` (halves round up), ``(A,)`` int64.

    It starts at token 0, ends at token T-1 and is itself an allowed MAS path for any A, T.

    >>> uniform_path(6, 3).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    if n_audio == 1:
        return np.zeros(1, dtype=np.int64)
    i = np.arange(n_audio, dtype=np.int64)
    return (2 * i * (n_text - 1) + (n_audio - 1)) // (2 * (n_audio - 1))  # exact integer rounding


def _alas_update(paths: np.ndarray, reference: ReferencePath) -> AlasCounts:
    """Distance sums of the paths ``(L, A)`` and of the uniform path from the reference."""
    token_word = reference.token_word  # (T,)
    uniform = uniform_path(reference.n_audio, reference.n_text)  # (A,)
    reference_words = token_word[reference.token_per_row]  # (A,) word units: see the module docstring
    return AlasCounts(
        distance_tokens=np.abs(paths - reference.token_per_row).sum(axis=1, dtype=np.float64),
        distance_words=np.abs(token_word[paths] - reference_words).sum(axis=1, dtype=np.float64),
        uniform_distance_tokens=float(np.abs(uniform - reference.token_per_row).sum()),
        uniform_distance_words=float(np.abs(token_word[uniform] - reference_words).sum()),
        n_rows=reference.n_audio,
    )


def _ratio(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, np.nan, np.asarray(numerator, dtype=np.float64) / denominator)


def _alas_compute(counts: AlasCounts) -> AlasScores:
    rows = counts.n_rows
    return AlasScores(
        tokens=counts.distance_tokens / rows,
        words=counts.distance_words / rows,
        uniform_tokens=counts.uniform_distance_tokens / rows,
        uniform_words=counts.uniform_distance_words / rows,
        calibrated_tokens=_ratio(counts.distance_tokens, counts.uniform_distance_tokens),
        calibrated_words=_ratio(counts.distance_words, counts.uniform_distance_words),
    )


def _check_reference_fits(reference: ReferencePath, n_audio: int, n_text: int) -> None:
    if reference.n_audio != n_audio:
        raise ValueError(f"reference covers {reference.n_audio} audio positions but the audio has {n_audio}")
    if reference.n_text != n_text:
        raise ValueError(f"reference covers {reference.n_text} text tokens but the text has {n_text}")


def alas(
    audio, text, reference: ReferencePath, normalisation: str = "cosine", statistics=None, hub_k: int = 5
) -> AlasResult:
    """ALAS per layer for one utterance: similarity, MAS path, distance from the reference (lower is better).

    ``audio``: ``(L, A, D)`` hidden states of the audio positions (audio-prompt run); ``text``: ``(L, T, D)``
    of the transcript positions (text-prompt run); numpy or torch, any float dtype. ``reference``: from
    ``reference_path`` for the same A and T. ``normalisation``: a name in ``NORMALISATIONS``, recorded;
    ``statistics``: the corpus statistics of a fitted normalisation
    (``speechalign.metrics.alas.fit_statistics``); ``hub_k``: neighbours per audio position of the
    k-occurrence hubness diagnostic (``speechalign.metrics.alas.hubness``).

    >>> import numpy as np
    >>> from speechalign.metrics.alas import reference_path
    >>> text = np.eye(3)[None]  # (1, 3, 3): tokens "a", " b", " c" of "a b c"
    >>> audio = np.eye(3)[[0, 0, 0, 0, 1, 2]][None]  # (1, 6, 3): the model dwells on "a"
    >>> ref = reference_path([(0, 0.16), (0.16, 0.2), (0.2, 0.24)], [(0, 1), (2, 3), (4, 5)],
    ...                      [(0, 1), (1, 3), (3, 5)], n_audio=6, frame_seconds=0.04)
    >>> result = alas(audio, text, ref)
    >>> result.paths.tolist(), ref.token_per_row.tolist()
    ([[0, 0, 0, 0, 1, 2]], [0, 0, 0, 0, 1, 2])
    >>> scores = result.scores
    >>> float(scores.tokens[0]), scores.uniform_tokens, float(scores.calibrated_tokens[0])
    (0.0, 0.5, 0.0)
    """
    sim = similarity(audio, text, normalisation, statistics)  # (L, A, T) float32, finite by construction
    _check_reference_fits(reference, sim.shape[1], sim.shape[2])
    paths = maximum_path(sim, check_finite=False)  # (L, A)
    counts = _alas_update(paths, reference)
    return AlasResult(
        normalisation=normalisation,
        n_audio=sim.shape[1],
        n_text=sim.shape[2],
        n_words=reference.n_words,
        paths=paths,
        uniform_path=uniform_path(sim.shape[1], sim.shape[2]),
        reference=reference,
        counts=counts,
        scores=_alas_compute(counts),
        hubness=hubness(sim, paths, hub_k),
    )


def pooled_alas(per_utterance: np.ndarray, rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Corpus ALAS as a ratio of sums: each utterance's distance sum (its ALAS times its audio rows) summed,
    over the rows summed; not a mean of per-utterance means. ``per_utterance``, ``rows``: ``(U,)``;
    ``weights``: ``(B, U)``, how often each utterance is drawn in each of B resamples (default: once each,
    B = 1). Returns ``(B,)``.

    >>> pooled_alas(np.array([1.0, 4.0]), np.array([3.0, 1.0])).tolist()
    [1.75]
    """
    if weights is None:
        weights = np.ones((1, len(rows)))
    return (weights @ (per_utterance * rows)) / (weights @ rows)


def mean_alas(per_utterance: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Corpus ALAS as the ALAS paper reports it: the average of per-utterance ALAS, each utterance counting
    once whatever its length. ``weights``: ``(B, U)`` resample counts as in ``pooled_alas``. Returns ``(B,)``.

    >>> mean_alas(np.array([1.0, 4.0])).tolist()
    [2.5]
    """
    if weights is None:
        weights = np.ones((1, len(per_utterance)))
    return (weights @ per_utterance) / weights.sum(axis=1)


def best_layer(scores: AlasScores, unit: str = "tokens") -> int:
    """Index of the layer with the lowest ALAS in ``unit`` ("tokens" or "words"); lower is better."""
    if unit not in ("tokens", "words"):
        raise ValueError(f"unit must be 'tokens' or 'words'; got {unit!r}")
    return int(np.argmin(getattr(scores, unit)))
