"""Does a normalisation let ALAS tell aligned from unaligned? Separation, sensitivity, the choice, the ruler.

Per normalisation and layer, on per-utterance calibrated ALAS (ALAS / uniform-path ALAS; lower is better):

- separation of the positive control (the aligned model through the real audio path when there is one, else
  the noiseless oracle) from each negative control: the AUC over utterances, ``P(positive < negative) + 0.5
  P(tie)`` (1: every positive utterance beats every negative one; 0.5: chance), and the effect size
  ``(mean_negative - mean_positive) / sqrt((var_positive + var_negative) / 2)`` (Cohen's d);
- sensitivity: the Spearman correlation between the sweep level (noise scale, jitter, ruler step) and ALAS
  (positive: ALAS grows as the input degrades, as it must).

The chosen normalisation (``selection``, made on the dev split and reported on test) is the one whose worst
negative control separates best: the largest mean over layers of the smallest AUC over negatives, ties broken
by the same statistic of the effect size; its headline layer is the positive control's best layer there.
The ruler (``ruler_curve``) places other models: "as aligned as the ruler at step w" (``place_on_ruler``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from speechalign.metrics.alas import mean_alas, pooled_alas

__all__ = [
    "CRITERION",
    "auc",
    "choose_default",
    "effect_size",
    "place_on_ruler",
    "pooled",
    "ranking",
    "ruler_curve",
    "selection",
    "separation",
    "timing_check",
]

CRITERION = (
    "largest mean over layers of the smallest AUC over the negative controls (positive control: the aligned"
    " model, else the oracle; per-utterance calibrated ALAS); ties: the same statistic of the effect size;"
    " headline layer: the positive control's lowest pooled ALAS under that normalisation"
)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """``P(positive < negative) + 0.5 P(tie)`` over all pairs (lower ALAS is better).

    >>> auc(np.array([0.1, 0.2]), np.array([0.9, 0.2]))
    0.875
    """
    p, n = np.asarray(positive, dtype=np.float64)[:, None], np.asarray(negative, dtype=np.float64)[None, :]
    return float(((p < n) + 0.5 * (p == n)).mean())


def effect_size(positive: np.ndarray, negative: np.ndarray) -> float:
    """Cohen's d of ``negative - positive`` with the average variance (NaN: fewer than 2 each, or no spread).

    >>> round(effect_size(np.array([0.0, 0.2]), np.array([1.0, 1.2])), 3)
    7.071
    """
    if len(positive) < 2 or len(negative) < 2:
        return float("nan")
    spread = np.sqrt((np.var(positive, ddof=1) + np.var(negative, ddof=1)) / 2)
    return float((np.mean(negative) - np.mean(positive)) / spread) if spread > 0 else float("nan")


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y).statistic)


def _per_utterance(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(score=table["alas_tokens"] / table["uniform_tokens"]).dropna(subset=["score"])


def positive_condition(table: pd.DataFrame) -> str:
    """The aligned model when the table has it (the control through the real audio path), else the oracle."""
    return "aligned" if (table["condition"] == "aligned").any() else "oracle"


def _on_ruler(part: pd.DataFrame) -> pd.DataFrame:
    return part[part["mix"].notna()]


def separation(table: pd.DataFrame) -> pd.DataFrame:
    """One row per normalisation, layer and negative control: ``auc``, ``effect_size`` (the positive control
    against that negative), and the layer's ``spearman_noise`` / ``spearman_jitter`` along the oracle sweeps
    and ``spearman_ruler`` along the ruler (the same on each negative's row)."""
    table = _per_utterance(table)
    negatives = sorted(table.loc[table["role"] == "negative", "condition"].unique())
    positive_name = positive_condition(table)
    rows = []
    for (name, layer), part in table.groupby(["normalisation", "layer"], sort=True):
        by_condition = {c: g["score"].to_numpy() for c, g in part.groupby("condition")}
        oracle = part[part["condition"].str.startswith("oracle")]
        noise = oracle[oracle["jitter"] == 0]
        jitter = oracle[oracle["noise"] == 0]
        ruler = _on_ruler(part)
        sensitivity = {
            "spearman_noise": _spearman(noise["noise"].to_numpy(), noise["score"].to_numpy()),
            "spearman_jitter": _spearman(jitter["jitter"].to_numpy(), jitter["score"].to_numpy()),
            "spearman_ruler": _spearman(ruler["mix"].to_numpy(), ruler["score"].to_numpy()),
        }
        positive = by_condition.get(positive_name, np.zeros(0))
        for negative in negatives:
            values = by_condition.get(negative, np.zeros(0))
            rows.append(
                {
                    "normalisation": name,
                    "layer": int(layer),
                    "negative": negative,
                    "auc": auc(positive, values) if len(positive) and len(values) else float("nan"),
                    "effect_size": effect_size(positive, values),
                    **sensitivity,
                }
            )
    return pd.DataFrame(rows)


def ranking(sep: pd.DataFrame) -> pd.DataFrame:
    """Per normalisation: the worst-negative AUC and effect size averaged over layers, and the mean
    sensitivities; best first (``CRITERION``)."""
    worst = sep.groupby(["normalisation", "layer"]).agg(
        auc=("auc", "min"),
        effect_size=("effect_size", "min"),
        spearman_noise=("spearman_noise", "first"),
        spearman_jitter=("spearman_jitter", "first"),
        spearman_ruler=("spearman_ruler", "first"),
    )
    summary = worst.groupby("normalisation").mean().reset_index()
    return summary.sort_values(["auc", "effect_size"], ascending=False, na_position="last").reset_index(
        drop=True
    )


def choose_default(sep: pd.DataFrame) -> str:
    """The normalisation that separates best (``CRITERION``)."""
    return str(ranking(sep)["normalisation"].iloc[0])


POOLED_COLUMNS = [
    "diagonal_contrast",
    "hub_share",
    "k_skewness",
    "utterances",
    "alas_tokens",  # ratio of sums over utterances (ours)
    "alas_tokens_mean",  # average over utterances (the ALAS paper's)
    "uniform_tokens",
    "calibrated_tokens",
]


def pooled(table: pd.DataFrame) -> pd.DataFrame:
    """Per normalisation, condition and layer: ALAS pooled over utterances both ways (a ratio of sums,
    ``speechalign.metrics.alas.pooled_alas``, and the paper's average, ``mean_alas``), the uniform path's,
    the calibrated ratio of sums, and the means of the diagonal contrast and hubness diagnostics."""
    keys = ["normalisation", "condition", "role", "noise", "jitter", "mix", "layer"]
    rows = []
    for key, part in table.groupby(keys, sort=True, dropna=False):
        n_audio = part["n_audio"].to_numpy(np.float64)
        alas_ = pooled_alas(part["alas_tokens"].to_numpy(), n_audio)[0]
        uniform = pooled_alas(part["uniform_tokens"].to_numpy(), n_audio)[0]
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "diagonal_contrast": part["diagonal_contrast"].mean(),
                "hub_share": part["hub_share"].mean(),
                "k_skewness": part["k_skewness"].mean(),
                "utterances": part["utterance"].nunique(),
                "alas_tokens": alas_,
                "alas_tokens_mean": float(mean_alas(part["alas_tokens"].to_numpy())[0]),
                "uniform_tokens": uniform,
                "calibrated_tokens": alas_ / uniform,
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *POOLED_COLUMNS])


def selection(table: pd.DataFrame, sep: pd.DataFrame) -> dict[str, Any]:
    """The chosen normalisation and its headline layer (``CRITERION``); made on the dev split."""
    name = choose_default(sep)
    positive = positive_condition(table)
    scores = pooled(table)
    mine = scores[(scores["normalisation"] == name) & (scores["condition"] == positive)]
    layer = int(mine.loc[mine["alas_tokens"].idxmin(), "layer"])
    return {"normalisation": name, "layer": layer, "positive": positive, "criterion": CRITERION}


def ruler_curve(scores: pd.DataFrame, normalisation: str) -> pd.DataFrame:
    """Pooled ALAS of the ruler's steps (aligned, inner steps, untrained) under ``normalisation``: one row per
    step and layer, plus rows with ``layer`` = "mean" (the mean over layers)."""
    part = scores[(scores["normalisation"] == normalisation) & scores["mix"].notna()]
    part = part[["mix", "condition", "layer", "alas_tokens", "alas_tokens_mean", "uniform_tokens"]]
    mean = part.groupby(["mix", "condition"], as_index=False)[["alas_tokens", "alas_tokens_mean"]].mean()
    mean = mean.assign(layer="mean", uniform_tokens=part.groupby("mix")["uniform_tokens"].first().to_numpy())
    return pd.concat([part.assign(layer=part["layer"].astype(object)), mean], ignore_index=True)


def ruler_rho(curve: pd.DataFrame, layer) -> float:
    """Spearman correlation of the ruler step with its pooled ALAS at ``layer`` (an int or "mean")."""
    part = curve[curve["layer"] == layer]
    return _spearman(part["mix"].to_numpy(), part["alas_tokens"].to_numpy())


def place_on_ruler(curve: pd.DataFrame, layer, value: float) -> float:
    """The ruler step w in [0, 1] whose ALAS (at ``layer``) equals ``value``, interpolated linearly between
    steps along the running maximum of the curve (so a non-monotonic ruler still gives one answer); 0 when
    ``value`` is at or below the aligned model's, 1 at or above the untrained one's.

    >>> curve = pd.DataFrame({"mix": [0.0, 0.5, 1.0], "layer": [3] * 3, "alas_tokens": [1.0, 2.0, 5.0]})
    >>> place_on_ruler(curve, 3, 3.5)
    0.75
    """
    part = curve[curve["layer"] == layer].sort_values("mix")
    steps = part["mix"].to_numpy(np.float64)
    values = np.maximum.accumulate(part["alas_tokens"].to_numpy(np.float64))
    rising = np.concatenate([[True], np.diff(values) > 0])  # np.interp needs strictly increasing x
    return float(np.interp(value, values[rising], steps[rising], right=steps[-1]))


def timing_check(table: pd.DataFrame, tolerance: float) -> dict[str, Any]:
    """The oracle under raw cosine at layer 0 (the LM's input embeddings: the text run's own states) must sit
    on the reference: its pooled ALAS in tokens above ``tolerance`` means the backend's declared frame length
    or offset disagrees with the encoder's geometry (``speechalign.validity.timeline``)."""
    scores = pooled(table)
    row = scores[
        (scores["normalisation"] == "cosine") & (scores["condition"] == "oracle") & (scores["layer"] == 0)
    ]
    value = float(row["alas_tokens"].iloc[0]) if len(row) else float("nan")
    return {"oracle_layer0_alas_tokens": value, "tolerance": tolerance, "ok": bool(value <= tolerance)}


def summary_pooled(pooled_table: pd.DataFrame) -> dict[str, Any]:
    """``{normalisation: {condition: {field: [per layer]}}}`` for ALAS (both aggregations), the calibrated
    ratio, the diagonal contrast and the hubness diagnostics."""
    fields = ["alas_tokens", "alas_tokens_mean", "calibrated_tokens", "diagonal_contrast", "hub_share"]
    out: dict[str, Any] = {}
    for (name, condition), part in pooled_table.groupby(["normalisation", "condition"], sort=True):
        part = part.sort_values("layer")
        out.setdefault(name, {})[condition] = {
            field: [round(float(v), 6) for v in part[field]] for field in [*fields, "k_skewness"]
        }
    return out
