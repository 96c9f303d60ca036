"""What a validity summary says about one split: the selection, the timing check, the headline (positive
control against the uniform path), the ruler with its Spearman rho and the models placed on it.

Every number is pooled over the split's utterances as a ratio of sums (``alas_tokens``); the ALAS paper's
average over utterances is beside it (``alas_tokens_mean``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from speechalign.validity.separation import (
    place_on_ruler,
    pooled,
    ruler_curve,
    ruler_rho,
    selection,
    summary_pooled,
    timing_check,
)

__all__ = ["headline", "ruler_summary", "split_summary"]

PAPER_NORMALISATION = "cosine"  # the ALAS paper's raw cosine, always reported beside the selected one


def _at(scores: pd.DataFrame, normalisation: str, condition: str) -> pd.DataFrame:
    return scores[(scores["normalisation"] == normalisation) & (scores["condition"] == condition)]


def headline(scores: pd.DataFrame, normalisation: str, layer: int, positive: str) -> dict[str, Any]:
    """The positive control at the selected ``layer`` and at its best layer on this split, against the
    uniform path (``ratio``: ALAS / uniform ALAS; lower is better)."""
    part = _at(scores, normalisation, positive).set_index("layer")
    best = int(part["alas_tokens"].idxmin())
    uniform = float(part["uniform_tokens"].iloc[0])
    entry = {"positive": positive, "uniform_tokens": uniform, "selected_layer": layer, "best_layer": best}
    for name, at in (("selected_layer", layer), ("best_layer", best)):
        value = float(part.loc[at, "alas_tokens"])
        entry[f"alas_tokens_{name}"] = value
        entry[f"alas_tokens_mean_{name}"] = float(part.loc[at, "alas_tokens_mean"])
        entry[f"ratio_{name}"] = value / uniform if uniform else float("nan")
    return entry


def ruler_summary(scores: pd.DataFrame, normalisation: str, layer: int) -> dict[str, Any]:
    """The ruler's pooled ALAS per step at ``layer`` and averaged over layers, its Spearman rho, and where
    the model itself (``audio``), the untrained projector and each placed model fall on it (step w in
    [0, 1])."""
    curve = ruler_curve(scores, normalisation)
    mine = scores[scores["normalisation"] == normalisation]
    others = mine[mine["role"].isin(["model", "placed"]) | (mine["condition"] == "untrained")]
    placements = {}
    for condition, part in others.groupby("condition"):
        at_layer = float(part.loc[part["layer"] == layer, "alas_tokens"].iloc[0])
        mean = float(part["alas_tokens"].mean())
        placements[condition] = {
            "alas_tokens_layer": at_layer,
            "step_layer": place_on_ruler(curve, layer, at_layer),
            "alas_tokens_mean_over_layers": mean,
            "step_mean_over_layers": place_on_ruler(curve, "mean", mean),
        }
    steps = []
    for mix, part in curve.groupby("mix"):
        values = part.set_index(part["layer"].astype(str))["alas_tokens"]
        steps.append({"mix": float(mix), "alas_tokens_layer": float(values[str(layer)]),
                      "alas_tokens_mean_over_layers": float(values["mean"])})  # fmt: skip
    return {
        "normalisation": normalisation,
        "layer": layer,
        "steps": steps,
        "spearman_layer": ruler_rho(curve, layer),
        "spearman_mean_over_layers": ruler_rho(curve, "mean"),
        "placements": placements,
    }


def split_summary(
    table: pd.DataFrame, sep: pd.DataFrame, dev: Mapping[str, Any] | None, tolerance: float
) -> dict[str, Any]:
    """The summary fields of one split; ``dev``: the dev split's summary whose selection a test split
    reports (None: this split makes the selection)."""
    scores = pooled(table)
    chosen = dict(dev["selection"]) if dev else selection(table, sep)
    names = list(dict.fromkeys([chosen["normalisation"], PAPER_NORMALISATION]))
    out: dict[str, Any] = {
        "selection": chosen,
        "selected_on": dev["split"] if dev else "this split",
        "timing": timing_check(table, tolerance),
        "headline": {n: headline(scores, n, chosen["layer"], chosen["positive"]) for n in names},
    }
    if scores["role"].isin(["ruler"]).any():
        out["ruler"] = {n: ruler_summary(scores, n, chosen["layer"]) for n in names}
    out["pooled"] = summary_pooled(scores)
    return out
