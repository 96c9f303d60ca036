"""ALAS validity: positive and negative controls, normalisations compared on them, the default chosen by data.

``validate_corpus`` scores the oracle-aligned input (and its noise and jitter sweeps), the model's own audio
and the negative controls (mismatched transcript, reversed audio, untrained projector) under every
normalisation; ``separation`` and ``ranking`` say which normalisation tells them apart best.
"""

from speechalign.validity.controls import NEGATIVES, Condition, conditions
from speechalign.validity.measure import TABLE_COLUMNS, validate_corpus
from speechalign.validity.separation import (
    CRITERION,
    auc,
    choose_default,
    effect_size,
    pooled,
    ranking,
    separation,
)

__all__ = [
    "CRITERION",
    "NEGATIVES",
    "TABLE_COLUMNS",
    "Condition",
    "auc",
    "choose_default",
    "conditions",
    "effect_size",
    "pooled",
    "ranking",
    "separation",
    "validate_corpus",
]
