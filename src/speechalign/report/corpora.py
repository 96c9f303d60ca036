"""The corpora at a glance: sizes, speakers, labels (from each corpus's data card) and durations."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from speechalign.data.manifest import CARD, read_manifest


def corpus_table(folders: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per corpus and split: utterances, hours, speakers, gender balance, rejects."""
    rows = []
    for folder in folders:
        card = json.loads((Path(folder) / CARD).read_text())
        for split, stats in sorted(card["splits"].items()):
            genders = stats.get("gender", {})
            rows.append(
                {
                    "corpus": card["corpus"],
                    "split": split,
                    "utterances": stats["utterances"],
                    "hours": stats["hours"],
                    "speakers": stats["speakers"],
                    "female": genders.get("female", 0),
                    "male": genders.get("male", 0),
                    "rejected (whole corpus)": card["rejected"],
                }
            )
    return pd.DataFrame(rows)


def durations(folders: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Per utterance: corpus, split, duration in seconds, words per second."""
    rows = []
    for folder in folders:
        name = Path(folder).name
        for utt in read_manifest(folder):
            seconds = utt.num_samples / utt.sample_rate
            rows.append(
                {
                    "corpus": name,
                    "split": utt.split,
                    "seconds": seconds,
                    "words_per_second": len(utt.words) / seconds if seconds else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def duration_figure(table: pd.DataFrame) -> Figure:
    """Histograms of utterance duration and speaking rate, one colour per corpus."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    # shared bins and outlines, so that a small corpus stays visible beside a large one
    duration_bins = np.histogram_bin_edges(table["seconds"], bins=30)
    rate_bins = np.histogram_bin_edges(table["words_per_second"].dropna(), bins=30)
    for corpus, group in table.groupby("corpus"):
        left.hist(
            group["seconds"], bins=duration_bins, histtype="step", lw=1.5, label=f"{corpus} (n={len(group)})"
        )
        right.hist(group["words_per_second"].dropna(), bins=rate_bins, histtype="step", lw=1.5, label=corpus)
    left.set(xlabel="duration (s)", ylabel="utterances", title="Utterance duration", yscale="log")
    right.set(xlabel="words per second", title="Speaking rate")
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig
