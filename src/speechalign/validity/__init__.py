"""ALAS validity: positive and negative controls, normalisations compared on them, the choice made on dev.

``validate_corpus`` scores the oracle (laid out by ``timeline`` from the exact word times, independently of
the reference path) and its noise and jitter sweeps, the aligned model (``aligned``: a projector trained to
map speech to the spoken token's embedding) and the ruler from it to the untrained projector, the model's own
audio, the negative controls (mismatched transcript, reversed audio, untrained projector) and placed models,
under every normalisation; ``separation``, ``ranking`` and ``selection`` say which normalisation tells them
apart best; ``summary`` reports a split (timing check, headline, ruler rho, placements).
"""

from speechalign.validity.controls import NEGATIVES, Condition, conditions
from speechalign.validity.measure import TABLE_COLUMNS, validate_corpus
from speechalign.validity.separation import (
    CRITERION,
    auc,
    choose_default,
    effect_size,
    place_on_ruler,
    pooled,
    ranking,
    selection,
    separation,
    timing_check,
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
    "place_on_ruler",
    "pooled",
    "ranking",
    "selection",
    "separation",
    "timing_check",
    "validate_corpus",
]
