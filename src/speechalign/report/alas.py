"""ALAS report: the paper's Figure 2 (similarity heatmaps with reference and MAS paths), Figure 3 (ALAS by
layer with confidence bands and the uniform baseline), and its in-text numbers (response agreement,
emotion accuracy). Reads the ALAS stage's files (speechalign.alas); computes nothing the stage computed."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from speechalign.data.manifest import read_manifest
from speechalign.io import write_text

# The four classes of the ALAS emotion prompt, with the word forms an answer may use.
EMOTION_WORDS = {
    "angry": ("anger", "angry"),
    "happy": ("happiness", "happy"),
    "sad": ("sadness", "sad"),
    "neutral": ("neutrality", "neutral"),
}


def model_and_corpus(path: str | os.PathLike) -> tuple[str, str]:
    """results/<stage>/<model>/<corpus>.<ext> -> (model, corpus)."""
    path = Path(path)
    return path.parent.name, path.name.split(".")[0]


def layer_table(summaries: Sequence[str | os.PathLike], subset: str = "all") -> pd.DataFrame:
    """Per model, corpus and layer: pooled ALAS in tokens with its 95% interval, the uniform baseline and the
    calibrated score, from the summary JSONs (``subset``: "all" scored pairs or the filter's "kept")."""
    rows = []
    for path in summaries:
        model, corpus = model_and_corpus(path)
        summary = json.loads(Path(path).read_text())
        for entry in summary[subset]["layers"]:
            low, high = entry["alas_tokens_ci"]
            rows.append({
                "model": model, "corpus": corpus, "layer": entry["layer"], "utterances": entry["utterances"],
                "alas_tokens": entry["alas_tokens"], "ci_low": low, "ci_high": high,
                "uniform_tokens": entry["uniform_tokens"], "calibrated_tokens": entry["calibrated_tokens"],
                "alas_words": entry["alas_words"], "calibrated_words": entry["calibrated_words"],
            })  # fmt: skip
    return pd.DataFrame(rows)


PLOT_COLUMNS = ["layer", "alas_tokens", "ci_low", "ci_high", "uniform_tokens"]


def plot_file(folder: str | os.PathLike, model: str, corpus: str) -> Path:
    """Where :func:`save_layer_plots` writes one model's curve on one corpus (a DVC plot source)."""
    return Path(folder) / corpus / f"{model}.tsv"


def save_layer_plots(table: pd.DataFrame, folder: str | os.PathLike) -> list[Path]:
    """ALAS by layer as DVC plot files: one flat TSV per model and corpus (DVC cannot read the nested
    summaries), so `dvc plots show/diff` draw Figure 3's curves across commits and experiments."""
    paths = []
    for (model, corpus), rows in table.groupby(["model", "corpus"], sort=True):
        path = plot_file(folder, model, corpus)
        write_text(path, rows.sort_values("layer")[PLOT_COLUMNS].to_csv(sep="\t", index=False))
        paths.append(path)
    return paths


def alas_by_layer_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """ALAS Figure 3: ALAS (tokens, lower is better) by layer, one panel per corpus, one line per model with
    its 95% band; the dashed line is the uniform diagonal path's score."""
    corpora = sorted(table["corpus"].unique())
    fig, axes = plt.subplots(1, len(corpora), figsize=(4.6 * len(corpora), 3.4), squeeze=False)
    for ax, corpus in zip(axes[0], corpora, strict=True):
        part = table[table["corpus"] == corpus]
        for i, (model, rows) in enumerate(part.groupby("model", sort=True)):
            colour = f"C{i}"
            ax.plot(rows["layer"], rows["alas_tokens"], color=colour, label=model)
            ax.fill_between(rows["layer"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2, lw=0)
            ax.axhline(rows["uniform_tokens"].iloc[0], color=colour, ls="--", lw=1)
        ax.set(title=corpus, xlabel="layer (0 = embeddings)", ylabel="ALAS (tokens, lower is better)")
        ax.set_ylim(bottom=0)
    axes[0][0].legend(fontsize=8, title="dashed: uniform path", title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def heatmap_figure(examples: str | os.PathLike, utterance: str | None = None, title: str = "") -> Figure:
    """ALAS Figure 2: for one example utterance, the similarity matrix of each figure layer (text tokens up,
    audio positions across) with the reference path (white) and the MAS path (red) drawn over it."""
    data = np.load(examples)
    ids = sorted({key.split("/")[0] for key in data.files})
    if not ids:
        raise ValueError(f"{examples} holds no example utterances")
    utt = utterance or ids[0]
    from speechalign.alas.run import similarity_heatmaps  # one drawing, shared with `speechalign alas run`

    layers, sims = data[f"{utt}/layers"], data[f"{utt}/similarity"].astype(np.float32)  # (K,), (K, A, T)
    paths, reference = data[f"{utt}/paths"], data[f"{utt}/reference_tokens"]  # (L, A), (A,)
    return similarity_heatmaps(layers, sims, paths, reference, title or utt)


def agreement_table(summaries: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The response filter per model and corpus: answered pairs, kept pairs, SBERT agreement."""
    rows = []
    for path in summaries:
        model, corpus = model_and_corpus(path)
        responses = json.loads(Path(path).read_text())["responses"]
        rows.append(
            {
                "model": model,
                "corpus": corpus,
                **responses,
                "kept_share": responses["kept"] / responses["answered"] if responses["answered"] else np.nan,
            }
        )
    return pd.DataFrame(rows)


def parse_emotion(answer: str) -> str | None:
    """The one emotion class an answer names; None when it names none or several (counted as wrong)."""
    words = set(re.findall(r"[a-z]+", str(answer).lower()))
    named = [label for label, forms in EMOTION_WORDS.items() if words & set(forms)]
    return named[0] if len(named) == 1 else None


def emotion_accuracy(responses: str | os.PathLike, corpus: str | os.PathLike) -> dict:
    """Accuracy of the audio-run and the text-run answers against the utterances' emotion labels.

    Unparseable answers count as wrong. The text run sees only the transcript, so it is a chance-level
    control for the audio run (the transcript carries no prosody)."""
    labels = {u.id: u.emotion for u in read_manifest(corpus)}
    table = pd.read_parquet(responses)
    answered = table[table["status"] == "ok"]
    counts = {"answered": len(answered)}
    for run in ("audio", "text"):
        parsed = answered[f"{run}_response"].map(parse_emotion)
        correct = parsed == answered["utterance"].map(labels)
        counts[f"{run}_correct"] = int(correct.sum())
        counts[f"{run}_unparsed"] = int(parsed.isna().sum())
        counts[f"{run}_accuracy"] = float(correct.mean()) if len(answered) else np.nan
    return counts
