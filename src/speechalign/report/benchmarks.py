"""Evaluation report: AZEROS Tables 3-7 (the paper's numbering and rows) as files, a figure of every system's
per-column scores with their intervals (our pooled task view included), and the project's own figure: the
ALAS-by-layer curves of the TSIT, SIT and SIFT variants beside their benchmark scores. Reads the evaluate
stage's files; every number comes from speechalign.evaluate."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from speechalign.evaluate import tables as T

PARADIGMS = T.PARADIGMS


def read_cells(path: str | os.PathLike) -> pd.DataFrame:
    """A long-form table file of the evaluate stage (``tables.csv``, ``systems.csv``); empty text stays ""."""
    return pd.read_csv(path).fillna({"method": "", "note": "", "section": "", "label": ""})


def read_tables(path: str | os.PathLike) -> dict[int, pd.DataFrame]:
    """The evaluate stage's ``results/evaluate/tables.csv``, one frame per table number."""
    return T.split_tables(read_cells(path))


def score_range(cells: pd.DataFrame) -> tuple[float, float]:
    """Axis range of scores x100: [0, 100] with a margin; down to -100 when a mean is negative (cosine)."""
    floor = -100.0 if (cells["mean"].dropna() < 0).any() else 0.0
    return floor - 5.0, 105.0


def clip_interval(low: float, high: float, bounds: tuple[float, float]) -> tuple[float, float, bool, bool]:
    """An interval cut to the axis (a t interval over two seeds can reach far past the score range): the
    clipped ends and whether each end was cut (drawn as an arrow)."""
    lo, hi = bounds
    return max(low, lo), min(high, hi), low < lo, high > hi


def scores_figure(cells: pd.DataFrame, title: str = "") -> Figure:
    """One panel per column (task or paralinguistic subset, composites last), one row per system: the mean
    (x100) with its interval; hollow markers for a bootstrap over items (one seed), filled for a t interval
    over seeds. Intervals reaching past the score range are cut at the axis with an arrow (the tables keep
    the full interval). A cell not applicable to a system (text: no transcript) reads "not applicable"."""
    columns = list(dict.fromkeys(zip(cells["group"], cells["column"], strict=True)))
    systems = list(dict.fromkeys(cells["system"]))
    fig, axes = plt.subplots(
        1,
        len(columns),
        figsize=(2.2 * len(columns) + 1.5, 0.32 * len(systems) + 1.4),
        sharey=True,
        squeeze=False,
    )
    y = np.arange(len(systems))
    bounds = score_range(cells)
    for ax, (group, column) in zip(axes[0], columns, strict=True):
        part = (
            cells[(cells["group"] == group) & (cells["column"] == column)]
            .set_index("system")
            .reindex(systems)
        )
        for k, (_, row) in enumerate(part.iterrows()):
            if row["method"] == T.NOT_APPLICABLE:
                ax.text(
                    sum(bounds) / 2, k, T.NOT_APPLICABLE, ha="center", va="center", fontsize=6, color="0.4"
                )
            if not math.isfinite(row["mean"]):
                continue
            filled, colour = row["method"] == T.T_INTERVAL, f"C{k % 10}"
            low, high, cut_low, cut_high = clip_interval(row["low"], row["high"], bounds)
            ax.plot([low, high], [k, k], color=colour, lw=1.5)
            for cut, end, marker in ((cut_low, low, "<"), (cut_high, high, ">")):
                if cut:
                    ax.plot(end, k, marker, color=colour, ms=5)
            ax.plot(row["mean"], k, "o", color=colour, mfc=colour if filled else "white", ms=5)
        ax.set_xlim(*bounds)
        ax.set_title(f"{column}\n({group})", fontsize=8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", color="0.92")
    axes[0][0].set_yticks(y, systems, fontsize=7)
    axes[0][0].invert_yaxis()
    fig.supxlabel("score x100 (higher is better): mean and interval", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def variant_alas(summaries: Mapping[str, str | os.PathLike]) -> pd.DataFrame:
    """ALAS by layer (``speechalign.report.alas.layer_table``) of each variant's backend, with a ``variant``
    column: ``summaries`` maps a variant to its backend's ``results/alas/<backend>/<corpus>.json``."""
    from speechalign.report.alas import layer_table

    frames = [layer_table([path]).assign(variant=variant) for variant, path in summaries.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def alas_vs_benchmark_figure(
    alas: pd.DataFrame, cells: pd.DataFrame, variants: Sequence[str] = PARADIGMS, title: str = ""
) -> Figure:
    """Left: ALAS by layer (tokens, lower is better, 95% band; dashed: the uniform path) of each variant.
    Right: the same variants' benchmark scores (each semantic column and the overall, x100, intervals).
    A variant without ALAS results is named in the left panel instead of drawn."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.2, 1]})
    missing = []
    for i, variant in enumerate(variants):
        rows = alas[alas["variant"] == variant] if len(alas) else alas
        if rows is None or not len(rows):
            missing.append(variant)
            continue
        left.plot(rows["layer"], rows["alas_tokens"], color=f"C{i}", label=variant)
        left.fill_between(rows["layer"], rows["ci_low"], rows["ci_high"], color=f"C{i}", alpha=0.2, lw=0)
        left.axhline(rows["uniform_tokens"].iloc[0], color=f"C{i}", ls="--", lw=0.8)
    left.set(xlabel="layer (0 = embeddings)", ylabel="ALAS (tokens, lower is better)", title="ALAS by layer")
    if missing:
        left.text(0.5, 0.5, "no ALAS results for\n" + ", ".join(missing), transform=left.transAxes,
                  ha="center", va="center", fontsize=8, color="0.4")  # fmt: skip
    if len(left.lines):
        left.legend(fontsize=7)
    semantic = cells[(cells["group"] == "semantic") & cells["system"].isin(variants)]
    columns = list(dict.fromkeys(semantic["column"]))
    width = 0.8 / max(len(variants), 1)
    for i, variant in enumerate(variants):
        rows = semantic[semantic["system"] == variant].set_index("column").reindex(columns)
        x = np.arange(len(columns)) + (i - (len(variants) - 1) / 2) * width
        bounds = score_range(semantic)
        low, high = rows["low"].clip(lower=bounds[0]), rows["high"].clip(upper=bounds[1])
        err = np.vstack([rows["mean"] - low, high - rows["mean"]])
        right.bar(x, rows["mean"], width, color=f"C{i}", label=variant)
        right.errorbar(x, rows["mean"], yerr=err, fmt="none", ecolor="0.2", lw=0.8, capsize=2)
    right.set_xticks(np.arange(len(columns)), columns, fontsize=8)
    right.set(ylabel="score x100 (higher is better)", title="spoken benchmark (semantic columns)")
    if len(semantic):
        right.set_ylim(*score_range(semantic))
    right.text(0.01, 0.99, "intervals cut at the score range", transform=right.transAxes, fontsize=6,
               va="top", color="0.4")  # fmt: skip
    right.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def parse_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Items, parsed answers and items not applicable to the system, per system, suite and task (scores
    written before several suites lack the suite and applicable columns: one suite, all applicable)."""
    applicable = scores["applicable"].astype(bool) if "applicable" in scores.columns else True
    scores = scores.assign(not_applicable=~pd.Series(applicable, index=scores.index))
    keys = ["system", "suite", "task"] if "suite" in scores.columns else ["system", "task"]
    counts = scores.groupby(keys).agg(
        items=("parsed", "size"), parsed=("parsed", "sum"), not_applicable=("not_applicable", "sum")
    )
    return counts.reset_index()


def asr_table(metrics_path: str | os.PathLike) -> pd.DataFrame:
    """The cascade's corpus WER (summed counts) from the evaluate stage's metrics; one row saying so when the
    profile runs no cascade."""
    from speechalign.report.findings import NOT_RUN

    asr = json.loads(Path(metrics_path).read_text()).get("asr", {})
    if not asr:
        return pd.DataFrame([{"run": "cascade", "note": NOT_RUN}])
    return pd.DataFrame([{"run": run, **values, "note": "run"} for run, values in sorted(asr.items())])
