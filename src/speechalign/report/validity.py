"""ALAS validity at a glance: the controls per layer (table) and ALAS against the oracle's degradation
(the sensitivity curve, one line per normalisation). Reads the `speechalign validity` outputs."""

from __future__ import annotations

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from speechalign.validity import pooled

CONTROL_ORDER = ["oracle", "audio", "mismatched", "reversed", "untrained"]


def read_summary(path: str | os.PathLike) -> dict:
    with open(path) as f:
        return json.load(f)


def _normalisation_order(summary: dict) -> list[str]:
    """The default first, then the ranking's order (raw cosine always present)."""
    return [entry["normalisation"] for entry in summary["ranking"]]


def controls_table(table: pd.DataFrame, separation: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """Per normalisation (default first) and layer: pooled calibrated ALAS of each control (< 1: better than
    the uniform diagonal; lower is better), the smallest AUC over the negatives, and the diagonal contrast of
    the oracle and of the mismatched control."""
    scores = pooled(table)
    wide = scores.pivot_table(
        index=["normalisation", "layer"], columns="condition", values="calibrated_tokens"
    )
    contrast = scores.pivot_table(
        index=["normalisation", "layer"], columns="condition", values="diagonal_contrast"
    )
    controls = [c for c in CONTROL_ORDER if c in wide.columns]
    out = wide[controls].add_prefix("alas/uniform ")
    out["min AUC"] = separation.groupby(["normalisation", "layer"])["auc"].min()
    for condition in ("oracle", "mismatched"):
        if condition in contrast.columns:
            out[f"contrast {condition}"] = contrast[condition]
    out = out.reset_index()
    rank = {name: i for i, name in enumerate(_normalisation_order(summary))}
    out = out.sort_values(
        ["normalisation", "layer"], key=lambda col: col.map(rank) if col.name == "normalisation" else col
    )
    out["normalisation"] = [f"{n} (default)" if n == summary["default"] else n for n in out["normalisation"]]
    return out.reset_index(drop=True)


def _sweep(scores: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Oracle rows of one sweep (``noise`` or ``jitter``), the noiseless oracle as level 0."""
    other = "jitter" if axis == "noise" else "noise"
    oracle = scores[scores["condition"].str.startswith("oracle") & (scores[other] == 0)]
    return oracle.assign(level=oracle[axis])


def sensitivity_figure(table: pd.DataFrame, summary: dict, title: str = "") -> Figure:
    """Pooled calibrated ALAS (median over layers, interquartile band) against the oracle's noise scale and
    time jitter, one line per normalisation; the negatives' medians as ticks on the right edge."""
    scores = pooled(table)
    names = _normalisation_order(summary)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, axis, label in zip(
        axes,
        ("noise", "jitter"),
        ("oracle noise (std / token-embedding RMS)", "oracle time jitter (s)"),
        strict=True,
    ):
        sweep = _sweep(scores, axis)
        for colour, name in zip(colours, names, strict=False):
            part = sweep[sweep["normalisation"] == name].groupby("level")["calibrated_tokens"]
            levels = np.array(sorted(part.groups))
            median = part.median().loc[levels].to_numpy()
            low, high = part.quantile(0.25).loc[levels].to_numpy(), part.quantile(0.75).loc[levels].to_numpy()
            tag = " (default)" if name == summary["default"] else ""
            ax.plot(levels, median, marker="o", color=colour, lw=2.2 if tag else 1.2, label=f"{name}{tag}")
            ax.fill_between(levels, low, high, color=colour, alpha=0.15)
            negatives = scores[(scores["normalisation"] == name) & (scores["role"] == "negative")]
            if len(negatives):
                ax.plot(
                    [levels.max() * 1.15 + 0.05], [negatives["calibrated_tokens"].median()],
                    marker="<", color=colour, ls="none",
                )  # fmt: skip
        ax.axhline(1.0, color="grey", ls="--", lw=1)
        ax.text(
            0.01,
            1.0,
            "uniform diagonal",
            color="grey",
            fontsize=7,
            va="bottom",
            transform=ax.get_yaxis_transform(),
        )
        ax.set_xscale("symlog", linthresh=0.25)  # level 0 (the noiseless oracle) stays on the axis
        ax.set_xlabel(label)
    axes[0].set_ylabel("ALAS / uniform ALAS (lower: better)\nmedian over layers, IQR band")
    axes[0].legend(fontsize=7, title="normalisation; < negatives' median", title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
