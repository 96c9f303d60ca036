"""Does a normalisation let ALAS tell aligned from unaligned? Separation, sensitivity, the default.

Per normalisation and layer, on per-utterance calibrated ALAS (ALAS / uniform-path ALAS; lower is better):

- separation of the positive control (noiseless oracle) from each negative control: the AUC over utterances,
  ``P(oracle < negative) + 0.5 P(tie)`` (1: every oracle utterance beats every negative one; 0.5: chance),
  and the effect size ``(mean_negative - mean_oracle) / sqrt((var_oracle + var_negative) / 2)`` (Cohen's d);
- sensitivity: the Spearman correlation between the sweep level (noise scale, jitter) and ALAS over the
  oracle sweep (positive: ALAS grows as the oracle degrades, as it must).

The default normalisation is the one whose worst negative control separates best: the largest mean over
layers of the smallest AUC over negatives, ties broken by the same statistic of the effect size.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from speechalign.metrics.alas import pooled_alas

__all__ = ["CRITERION", "auc", "choose_default", "effect_size", "pooled", "ranking", "separation"]

CRITERION = (
    "largest mean over layers of the smallest AUC over the negative controls (oracle vs negative,"
    " per-utterance calibrated ALAS); ties: the same statistic of the effect size"
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


def separation(table: pd.DataFrame) -> pd.DataFrame:
    """One row per normalisation, layer and negative control: ``auc``, ``effect_size``, and the layer's
    ``spearman_noise`` / ``spearman_jitter`` along the oracle sweeps (the same on each negative's row)."""
    table = _per_utterance(table)
    negatives = sorted(table.loc[table["role"] == "negative", "condition"].unique())
    rows = []
    for (name, layer), part in table.groupby(["normalisation", "layer"], sort=True):
        by_condition = {c: g["score"].to_numpy() for c, g in part.groupby("condition")}
        oracle = part[part["condition"].str.startswith("oracle")]
        noise = oracle[oracle["jitter"] == 0]
        jitter = oracle[oracle["noise"] == 0]
        sensitivity = {
            "spearman_noise": _spearman(noise["noise"].to_numpy(), noise["score"].to_numpy()),
            "spearman_jitter": _spearman(jitter["jitter"].to_numpy(), jitter["score"].to_numpy()),
        }
        positive = by_condition.get("oracle", np.zeros(0))
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
    )
    summary = worst.groupby("normalisation").mean().reset_index()
    return summary.sort_values(["auc", "effect_size"], ascending=False, na_position="last").reset_index(
        drop=True
    )


def choose_default(sep: pd.DataFrame) -> str:
    """The normalisation that separates best (``CRITERION``)."""
    return str(ranking(sep)["normalisation"].iloc[0])


def pooled(table: pd.DataFrame) -> pd.DataFrame:
    """Per normalisation, condition and layer: calibrated ALAS pooled over utterances (a ratio of sums,
    ``speechalign.metrics.alas.pooled_alas``) and the mean diagonal contrast."""
    keys = ["normalisation", "condition", "role", "noise", "jitter", "layer"]
    rows = []
    for key, part in table.groupby(keys, sort=True):
        n_audio = part["n_audio"].to_numpy(np.float64)
        alas_ = pooled_alas(part["alas_tokens"].to_numpy(), n_audio)[0]
        uniform = pooled_alas(part["uniform_tokens"].to_numpy(), n_audio)[0]
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "diagonal_contrast": part["diagonal_contrast"].mean(),
                "utterances": part["utterance"].nunique(),
                "calibrated_tokens": alas_ / uniform,
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "diagonal_contrast", "utterances", "calibrated_tokens"])


def summary_pooled(pooled_table: pd.DataFrame) -> dict[str, Any]:
    """``{normalisation: {condition: {"calibrated_tokens": [per layer], "diagonal_contrast": [...]}}}``."""
    out: dict[str, Any] = {}
    for (name, condition), part in pooled_table.groupby(["normalisation", "condition"], sort=True):
        part = part.sort_values("layer")
        out.setdefault(name, {})[condition] = {
            "calibrated_tokens": [round(float(v), 6) for v in part["calibrated_tokens"]],
            "diagonal_contrast": [round(float(v), 6) for v in part["diagonal_contrast"]],
        }
    return out
