"""ALAS validity at a glance: the controls per layer (table), ALAS against the oracle's degradation (the
sensitivity curve, one line per normalisation), and the ruler from the aligned model to no alignment with the
models placed on it (table and figure). Reads the `speechalign validity score` outputs of the test split,
whose normalisation and headline layer were chosen on dev."""

from __future__ import annotations

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from speechalign.validity.separation import pooled

CONTROL_ORDER = ["oracle", "aligned", "audio", "mismatched", "reversed", "untrained"]


def read_summary(path: str | os.PathLike) -> dict:
    with open(path) as f:
        return json.load(f)


def selected(summary: dict) -> str:
    """The normalisation chosen on the dev split (the headline of the ALAS stage)."""
    return summary["selection"]["normalisation"]


def _normalisation_order(summary: dict) -> list[str]:
    """The selected normalisation first, then the ranking's order (raw cosine always present)."""
    names = [entry["normalisation"] for entry in summary["ranking"]]
    return [selected(summary)] + [n for n in names if n != selected(summary)]


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
    out["normalisation"] = [f"{n} (selected)" if n == selected(summary) else n for n in out["normalisation"]]
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
            tag = " (selected)" if name == selected(summary) else ""
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


def placement_label(condition: str, model: str) -> str:
    """The name a placement is reported under: the base model for its own audio (``audio``), the untrained
    projector, or the placed model's name."""
    names = {"audio": model, "untrained": "untrained projector"}
    return names.get(condition, condition.removeprefix("placed:"))


def _rulers(summary: dict) -> list[tuple[str, dict]]:
    """The reported rulers, the selected normalisation's first."""
    return sorted(summary["ruler"].items(), key=lambda item: item[0] != selected(summary))


def ruler_table(summary: dict) -> pd.DataFrame:
    """Per reported normalisation (selected, raw cosine): the ruler's pooled ALAS per step at the headline
    layer and averaged over layers, then each placed model's ALAS and its step on the ruler."""
    rows = []
    for name, ruler in _rulers(summary):
        for step in ruler["steps"]:
            rows.append({"normalisation": name, "what": f"ruler step {step['mix']:g}", "step": step["mix"],
                         "alas_tokens_layer": step["alas_tokens_layer"],
                         "alas_tokens_mean_over_layers": step["alas_tokens_mean_over_layers"]})  # fmt: skip
        for model, place in ruler["placements"].items():
            what = placement_label(model, summary["model"])
            rows.append({"normalisation": name, "what": what, "step": place["step_layer"],
                         "alas_tokens_layer": place["alas_tokens_layer"],
                         "alas_tokens_mean_over_layers": place["alas_tokens_mean_over_layers"],
                         "step_mean_over_layers": place["step_mean_over_layers"]})  # fmt: skip
    return pd.DataFrame(rows)


def ruler_figure(summary: dict, title: str = "") -> Figure:
    """ALAS (tokens, headline layer) along the ruler, one panel per reported normalisation; each placed model
    is a horizontal line at its ALAS, named with the step it matches."""
    rulers = _rulers(summary)
    fig, axes = plt.subplots(1, len(rulers), figsize=(4.8 * len(rulers), 3.6), squeeze=False)
    for ax, (name, ruler) in zip(axes[0], rulers, strict=True):
        steps = [s["mix"] for s in ruler["steps"]]
        ax.plot(
            steps, [s["alas_tokens_layer"] for s in ruler["steps"]], marker="o", color="black", label="ruler"
        )
        for i, (model, place) in enumerate(sorted(ruler["placements"].items())):
            label = f"{placement_label(model, summary['model'])}: step {place['step_layer']:.2f}"
            ax.axhline(place["alas_tokens_layer"], color=f"C{i}", ls="--", lw=1, label=label)
        uniform = summary["headline"][name]["uniform_tokens"]
        ax.axhline(uniform, color="grey", ls=":", lw=1, label="uniform path")
        ax.set(
            title=f"{name}, layer {ruler['layer']} (rho {ruler['spearman_layer']:.2f})",
            xlabel="ruler step (share of the aligned variation shuffled)",
            ylabel="ALAS (tokens, lower is better)",
        )
        ax.legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
