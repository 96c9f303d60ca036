"""SIFT report: the generated targets per mode (AZEROS Figures 2-4 show examples), training curves, and
the spoken-QA comparison of trained variants with the untrained projector and the text-run upper bound."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def read_targets(files: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Every target record of the given ``data/sift/targets/<mode>.jsonl`` files, one row each."""
    frames = [pd.read_json(path, lines=True) for path in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def target_statistics(targets: pd.DataFrame) -> pd.DataFrame:
    """Per mode: items, mean generated tokens, and the share cut by max_new_tokens (truncation marker)."""
    stats = targets.groupby("mode", sort=True).agg(
        items=("id", "size"), mean_new_tokens=("new_tokens", "mean"), truncated_share=("truncated", "mean")
    )
    return stats.reset_index()


def target_examples(targets: pd.DataFrame, per_mode: int = 2) -> pd.DataFrame:
    """The first ``per_mode`` training items of every mode (by id, so every run shows the same ones), with
    what the writer LLM saw (its system prompt: the paper's for the ssp modes) and what it wrote."""
    train = targets[targets["split"] == "train"].sort_values(["mode", "id"])
    examples = train.groupby("mode", sort=True).head(per_mode)
    return examples[["mode", "id", "writer_system", "instruction", "writer_input", "target", "truncated"]]


def run_name(path: str | os.PathLike) -> tuple[str, int | None]:
    """(variant or system, seed) of a per-seed result path, ``<...>/<variant>/seed<seed>[.json]``; a path
    without a seed part gives (its stem, None)."""
    path = Path(path)
    match = re.fullmatch(r"seed(\d+)", path.stem)
    return (path.parent.name, int(match.group(1))) if match else (path.stem, None)


def read_curves(folders: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """``results/train/<variant>/seed<seed>/curve.tsv`` of every variant and seed, with ``variant`` and
    ``seed`` columns."""
    frames = []
    for folder in folders:
        variant, seed = run_name(folder)
        frames.append(pd.read_csv(Path(folder) / "curve.tsv", sep="\t").assign(variant=variant, seed=seed))
    return pd.concat(frames, ignore_index=True)


def curves_figure(curves: pd.DataFrame, title: str = "") -> Figure:
    """Validation loss against the training step, one line per variant (the mean over its seeds; step 0: the
    untrained projector)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (variant, rows) in enumerate(curves.groupby("variant", sort=True)):
        val = rows.dropna(subset=["val_loss"]).groupby("step", as_index=False)["val_loss"].mean()  # seeds
        ax.plot(
            val["step"],
            val["val_loss"],
            marker="o",
            ms=3,
            color=f"C{i % 10}",
            ls="-" if i < 10 else "--",
            label=variant,
        )
    ax.set(xlabel="step", ylabel="validation loss (response tokens)", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def qa_table(files: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per evaluated system and seed (``results/train/qa/<system>/seed<seed>.json``): spoken-QA scores
    of the audio run and, for reference, the text run (the LLM reading the transcript: the upper bound)."""
    rows = []
    for path in files:
        result = json.loads(Path(path).read_text())
        system, seed = run_name(path)
        scalars = {k: v for k, v in result.items() if not isinstance(v, list | dict)}
        rows.append({"system": system, "seed": seed, **scalars, **paired_columns(result)})
    return pd.DataFrame(rows)


def paired_columns(result: dict) -> dict:
    """A trained variant's paired comparison with the untrained control (``speechalign train spoken-qa``'s
    ``vs_untrained``) as
    flat columns: ``<score>_vs_untrained`` (mean per-item difference) and its 95% interval."""
    compared = result.get("vs_untrained") or {}
    columns = {}
    for key, value in compared.items():
        if isinstance(value, dict):
            columns[f"{key}_vs_untrained"] = value["difference"]
            columns[f"{key}_vs_untrained_low"] = value["low"]
            columns[f"{key}_vs_untrained_high"] = value["high"]
    return columns
