"""ALAS, the automatic latent alignment score, on arrays: similarity, MAS path, reference path, score.

Lower is better. For one utterance and every layer: cosine similarity between each audio position and each
transcript position (``similarity``, audio-major ``(L, A, T)``), the maximum-sum monotonic path through it
(``maximum_path``), and the mean distance of that path from a reference path built from word times
(``reference_path``) — in tokens and in words, next to the same distance for a uniform diagonal path
(``alas`` returns all of it in one ``AlasResult``). Numpy arrays or torch tensors; no models, no data.

>>> import numpy as np
>>> from speechalign.metrics.alas import alas, reference_path
>>> text = np.eye(2)[None]  # (L=1, T=2, D=2)
>>> audio = np.array([[[1.0, 0.1], [0.9, 0.2], [0.1, 1.0], [0.2, 0.8]]])  # (L=1, A=4, D=2)
>>> ref = reference_path(word_times=[(0.0, 0.08), (0.08, 0.16)], word_char_spans=[(0, 2), (3, 5)],
...                      token_char_spans=[(0, 2), (2, 5)], n_audio=4, frame_seconds=0.04)
>>> result = alas(audio, text, ref)
>>> result.paths.tolist(), float(result.scores.tokens[0])
([[0, 0, 1, 1]], 0.0)
"""

from speechalign.metrics.alas.hubness import Hubness, hubness
from speechalign.metrics.alas.mas import maximum_path, path_score
from speechalign.metrics.alas.normalisations import (  # registers corpus-centred, pc-removed, standardised
    CorpusStatistics,
    MomentAccumulator,
    RoleStatistics,
    diagonal_contrast,
    fit_statistics,
)
from speechalign.metrics.alas.reference import ReferencePath, reference_path, row_times, token_words
from speechalign.metrics.alas.score import (
    AlasCounts,
    AlasResult,
    AlasScores,
    alas,
    best_layer,
    mean_alas,
    pooled_alas,
    uniform_path,
)
from speechalign.metrics.alas.similarity import (
    NORMALISATION_KINDS,
    NORMALISATIONS,
    register_normalisation,
    similarity,
)

__all__ = [
    "NORMALISATIONS",
    "NORMALISATION_KINDS",
    "AlasCounts",
    "AlasResult",
    "AlasScores",
    "CorpusStatistics",
    "Hubness",
    "MomentAccumulator",
    "RoleStatistics",
    "ReferencePath",
    "alas",
    "best_layer",
    "diagonal_contrast",
    "fit_statistics",
    "hubness",
    "maximum_path",
    "mean_alas",
    "path_score",
    "pooled_alas",
    "reference_path",
    "register_normalisation",
    "row_times",
    "similarity",
    "token_words",
    "uniform_path",
]
