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
from speechalign.report.validity import placement_label

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


def _summary_block(summary: dict, subset: str, normalisation: str | None) -> tuple[str, dict]:
    """(normalisation, the ``kept`` or ``all`` block) of a summary: ``normalisation`` None is its headline."""
    name = normalisation or summary["normalisation"]
    return name, summary["by_normalisation"][name][subset]


LAYER_FIELDS = [
    "layer",
    "utterances",
    "alas_tokens",  # ratio of sums over utterances (ours; the figures draw it)
    "alas_tokens_mean",  # average over utterances (the ALAS paper's)
    "uniform_tokens",
    "calibrated_tokens",
    "alas_words",
    "calibrated_words",
    "hub_share",
    "k_skewness",
]


def layer_table(
    summaries: Sequence[str | os.PathLike], subset: str = "all", normalisation: str | None = None
) -> pd.DataFrame:
    """Per model, corpus and layer: ALAS in tokens with its 95% interval (the ratio of sums over utterances;
    ``alas_tokens_mean``: the ALAS paper's average over utterances), the uniform path's, the calibrated score
    and the hubness diagnostics, from the summary JSONs (``subset``: "all" scored pairs or the filter's
    "kept"; ``normalisation``: one the stage scored, default the summary's headline)."""
    rows = []
    for path in summaries:
        model, corpus = model_and_corpus(path)
        name, block = _summary_block(json.loads(Path(path).read_text()), subset, normalisation)
        for entry in block["layers"]:
            where = {"model": model, "corpus": corpus, "normalisation": name, "pairs": subset}
            interval = dict(zip(("ci_low", "ci_high"), entry["alas_tokens_ci"], strict=True))
            rows.append(where | {field: entry[field] for field in LAYER_FIELDS} | interval)
    return pd.DataFrame(rows)


def reported_layers(summaries: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """``layer_table`` for the kept and for all pairs, under each summary's headline normalisation and under
    the paper's raw cosine (``cosine``)."""
    frames = [
        layer_table(summaries, subset, normalisation)
        for normalisation in (None, "cosine")
        for subset in ("kept", "all")
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates(
        ["model", "corpus", "normalisation", "pairs", "layer"]
    )


def layer_trend(
    scores: Sequence[str | os.PathLike], confidence: float, resamples: int, seed: int
) -> pd.DataFrame:
    """The ALAS paper's reading of its Figure 3, "later layers align better", as one paired test per model,
    corpus and normalisation: per utterance, the mean ALAS (tokens) of the last quarter of the blocks minus
    that of the first quarter (layer 0, the input embeddings, left out), paired over utterances
    (``speechalign.metrics.intervals.paired_comparison``). Lower ALAS is better, so the claim holds when the
    interval lies below 0. ``scores``: the stage's per-utterance tables (``results/alas/<model>/<corpus>
    .parquet``), all pairs."""
    from speechalign.evaluate.behaviour import verdict
    from speechalign.metrics.intervals import paired_comparison

    rows = []
    for path in scores:
        model, corpus = model_and_corpus(path)
        frame = pd.read_parquet(path, columns=["utterance", "layer", "alas_tokens", "normalisation"])
        for normalisation, part in frame[frame["layer"] > 0].groupby("normalisation", sort=True):
            layers = sorted(part["layer"].unique())
            quarter = max(1, len(layers) // 4)
            early, late = layers[:quarter], layers[-quarter:]
            wide = part.pivot_table(index="utterance", columns="layer", values="alas_tokens").dropna()
            if wide.empty or len(layers) < 2:
                continue
            late_mean, early_mean = wide[late].mean(axis=1), wide[early].mean(axis=1)  # (N,) each
            p = paired_comparison(late_mean.to_numpy()[None], early_mean.to_numpy()[None], confidence,
                                  resamples, seed)  # fmt: skip
            rows.append(
                {"model": model, "corpus": corpus, "normalisation": normalisation,
                 "early_layers": f"{early[0]}-{early[-1]}", "late_layers": f"{late[0]}-{late[-1]}",
                 "early": float(early_mean.mean()), "late": float(late_mean.mean()),
                 "late_minus_early": p.difference, "low": p.low, "high": p.high, "p_value": p.p_value,
                 "utterances": p.items, "verdict": verdict(p, False, confidence)}
            )  # fmt: skip
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


REFERENCE_MODEL = "composed-aligned"  # drawn as a reference line, not as one of the compared models


def _draw_models(ax, part: pd.DataFrame, reference: pd.DataFrame, colours: dict[str, str]) -> None:
    """One panel of Figure 3: a line and 95% band per model (n: the pairs it averages) in its colour of
    ``colours`` (the same in every panel, whichever models a panel lacks), its uniform path dashed;
    ``reference`` (the aligned model over all its pairs) as a black dash-dot line."""
    if len(reference):
        rows = reference.sort_values("layer")
        label = f"aligned model, all pairs (n={int(rows['utterances'].iloc[0])})"
        ax.plot(rows["layer"], rows["alas_tokens"], color="black", ls="-.", lw=1.6, label=label)
    for model, rows in part.groupby("model", sort=True):
        rows = rows.sort_values("layer")
        label = f"{model} (n={int(rows['utterances'].iloc[0])})"
        colour = colours[model]
        ax.plot(rows["layer"], rows["alas_tokens"], color=colour, label=label)
        ax.fill_between(rows["layer"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2, lw=0)
        ax.axhline(rows["uniform_tokens"].iloc[0], color=colour, ls="--", lw=0.8)


def alas_by_layer_figure(
    table: pd.DataFrame, title: str = "", reference_model: str = REFERENCE_MODEL
) -> Figure:
    """ALAS Figure 3: ALAS (tokens, lower is better; ratio of sums over utterances) by layer. One row per
    corpus and normalisation (the selected one, then the paper's raw cosine), one column per pair set (the
    SBERT-kept pairs, as the paper draws it, then every scored pair); a line per model with its 95% band,
    dashed: its uniform path; dash-dot black: the aligned model (the positive control), over all its pairs in
    both columns (a control is not filtered on answer agreement)."""
    table = table.assign(pairs=table.get("pairs", "all"), normalisation=table.get("normalisation", ""))
    rows = list(table[["corpus", "normalisation"]].drop_duplicates().itertuples(index=False))
    columns = [p for p in ("kept", "all") if p in set(table["pairs"])]
    colours = {model: f"C{i}" for i, model in enumerate(sorted(set(table["model"]) - {reference_model}))}
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(4.8 * len(columns), 3.3 * len(rows)), squeeze=False
    )
    for (corpus, normalisation), axes_row in zip(rows, axes, strict=True):
        for ax, pairs in zip(axes_row, columns, strict=True):
            part = table[(table["corpus"] == corpus) & (table["normalisation"] == normalisation)]
            # a control, not a compared model: its line is never filtered (its answers need not agree)
            reference = part[(part["model"] == reference_model) & (part["pairs"] == "all")]
            compared = part[(part["model"] != reference_model) & (part["pairs"] == pairs)]
            _draw_models(ax, compared, reference, colours)
            what = "SBERT-kept pairs" if pairs == "kept" else "all pairs"
            ax.set(title=f"{corpus}, {normalisation or 'ALAS'}: {what}", xlabel="layer (0 = embeddings)",
                   ylabel="ALAS (tokens, lower is better)")  # fmt: skip
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=6, title="dashed: uniform path", title_fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _heatmap_row(fig, axes, layers, sims, paths, reference, label: str) -> None:
    """One row of Figure 2: each layer's similarity (text tokens up, audio positions across) with the
    reference path (white) and the MAS path (red)."""
    for ax, layer, sim in zip(axes, layers, sims, strict=True):
        image = ax.imshow(sim.T, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
        ax.plot(reference, color="white", lw=1.2, label="reference")
        ax.plot(paths[layer], color="red", lw=1.0, label="MAS")
        ax.set(title=f"{label}, layer {int(layer)}", xlabel="audio position")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    axes[0].set_ylabel("transcript token")
    axes[0].legend(fontsize=7, loc="upper left")


def example_normalisations(data, utterance: str) -> list[str]:
    """The normalisations an examples file holds for ``utterance`` (``<id>/<normalisation>/paths``)."""
    return sorted(
        {key.split("/")[1] for key in data.files if key.startswith(f"{utterance}/") and key.count("/") == 2}
    )


def heatmap_figure(
    examples: str | os.PathLike, utterance: str | None = None, title: str = "", order: Sequence[str] = ()
) -> Figure:
    """ALAS Figure 2: for one example utterance, one row per normalisation (those in ``order`` first, e.g. the
    selected one and the raw cosine) of the figure layers' similarity with the reference and MAS paths."""
    data = np.load(examples)
    ids = sorted({key.split("/")[0] for key in data.files})
    if not ids:
        raise ValueError(f"{examples} holds no example utterances")
    utt = utterance or ids[0]
    names = example_normalisations(data, utt)
    names = [n for n in order if n in names] + [n for n in names if n not in order]
    layers, reference = data[f"{utt}/layers"], data[f"{utt}/reference_tokens"]  # (K,), (A,)
    fig, axes = plt.subplots(
        len(names), len(layers), figsize=(3.0 * len(layers), 2.8 * len(names)), squeeze=False
    )
    for axes_row, name in zip(axes, names, strict=True):
        sims = data[f"{utt}/{name}/similarity"].astype(np.float32)  # (K, A, T)
        _heatmap_row(fig, axes_row, layers, sims, data[f"{utt}/{name}/paths"], reference, name)
    fig.suptitle(title or utt, fontsize=9)
    fig.tight_layout()
    return fig


def ruler_placements(validity_summaries: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Where each model sits on the validity stage's ruler (test split): per corpus, normalisation (the
    selected one and the raw cosine) and model, its ALAS and the ruler step it matches, at the headline layer
    and averaged over layers (0: as aligned as the aligned model; 1: no alignment), with the ruler's rho."""
    rows = []
    for path in validity_summaries:
        summary = json.loads(Path(path).read_text())
        for name, ruler in summary.get("ruler", {}).items():
            for model, place in ruler["placements"].items():
                rows.append({"corpus": summary["corpus"], "normalisation": name, "layer": ruler["layer"],
                             "model": placement_label(model, summary["model"]),
                             **place, "ruler_rho_layer": ruler["spearman_layer"],
                             "ruler_rho_mean_over_layers": ruler["spearman_mean_over_layers"]})  # fmt: skip
    return pd.DataFrame(rows)


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
