"""How accurate each aligner's reference times are against the exact synthesised word times.

Per transcript word: the absolute start and end errors and the IoU of the two spans. Per aligner and
voice (and over all voices): mean and median absolute start and end error (ms), the share of word
boundaries (starts and ends pooled) within each tolerance, mean IoU (higher is better; errors lower are
better), the share of interpolated words, and the corpus WER from summed counts.

Two row sets, told apart by the ``against`` column:

- ``exact``: utterances whose times are exact (espeak-ng reports them from its synthesis events, error within
  a few ms): the aligners' error;
- ``pocketsphinx``: real speech (the ``real`` corpus, ``extra["word_times"] == "pocketsphinx"``), which has no
  exact times: each Whisper aligner's *agreement* with pocketsphinx forced alignment, not its error. Its
  per-voice rows are the real speakers, its pooled row is ``all-real``; pocketsphinx itself is left out there
  (it would be scored against itself).

piper's times in the embedded corpora also come from pocketsphinx; they enter neither set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from speechalign.data.manifest import Utterance
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path, write_text
from speechalign.reference.build import ReferenceRecord
from speechalign.reference.matching import ErrorCounts

EXACT_TIME_SPEAKERS = ("espeak-",)  # speaker-id prefixes of voices whose word times are exact
ALL_VOICES = "all"
ALL_REAL_VOICES = "all-real"
EXACT = "exact"
POCKETSPHINX = "pocketsphinx"


class AccuracyError(UserFacingError):
    """Nothing to measure, or references that do not fit the corpus."""


def has_exact_times(utt: Utterance) -> bool:
    return bool(utt.words) and utt.speaker.startswith(EXACT_TIME_SPEAKERS)


def truth_of(utt: Utterance) -> str | None:
    """What an utterance's manifest times are measured as: exact, pocketsphinx (real speech), or None."""
    if has_exact_times(utt):
        return EXACT
    if utt.words and utt.extra.get("word_times") == POCKETSPHINX:
        return POCKETSPHINX
    return None


def compared(aligner: str, truth: str) -> bool:
    return not (truth == POCKETSPHINX and aligner == POCKETSPHINX)  # not against itself


def span_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time spans; two identical zero-length spans count as 1.

    >>> span_iou((0.0, 1.0), (0.5, 1.5))
    0.3333333333333333
    """
    overlap = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return overlap / union if union > 0 else float(a == b)


def word_rows(record: ReferenceRecord, utt: Utterance, against: str = EXACT) -> list[dict]:
    """One row per word: signed start/end errors (reference - manifest times, seconds), IoU, flag."""
    if len(record.words) != len(utt.words):
        raise AccuracyError(
            f"{utt.id}: the {record.aligner} reference has {len(record.words)} words, the manifest "
            f"{len(utt.words)}; the reference file is stale: rebuild it"
        )
    return [
        {
            "aligner": record.aligner,
            "against": against,
            "voice": utt.voice or utt.speaker,
            "id": utt.id,
            "word": k,
            "start_error": ref.start - exact.start,
            "end_error": ref.end - exact.end,
            "iou": span_iou((ref.start, ref.end), (exact.start, exact.end)),
            "interpolated": ref.flag == "interpolated",
        }
        for k, (ref, exact) in enumerate(zip(record.words, utt.words, strict=True))
    ]


def word_errors(references: Mapping[str, Mapping[str, ReferenceRecord]], utterances: Sequence[Utterance]):
    """A pandas DataFrame of per-word errors for every aligner over the exact-time utterances, and of
    agreement with pocketsphinx over the real-speech ones."""
    import pandas as pd

    measured = [(u, truth_of(u)) for u in utterances if truth_of(u) is not None]
    if not measured:
        raise AccuracyError(
            "no utterance has exact word times (espeak voices) or real-speech pocketsphinx times (the real "
            "corpus): nothing to measure against"
        )
    rows = []
    for aligner, records in references.items():
        wanted = [(u, truth) for u, truth in measured if compared(aligner, truth)]
        missing = [u.id for u, _ in wanted if u.id not in records]
        if missing:
            raise AccuracyError(f"{aligner}: no reference for {len(missing)} utterances, e.g. {missing[:3]}")
        for utt, truth in wanted:
            rows += word_rows(records[utt.id], utt, truth)
    return pd.DataFrame(rows)


def summarise_group(words, records: Iterable[ReferenceRecord], tolerances_ms: Sequence[int]) -> dict:
    starts, ends = words["start_error"].abs().to_numpy(), words["end_error"].abs().to_numpy()
    boundaries = np.concatenate([starts, ends])
    counts = sum((r.counts for r in records), ErrorCounts())
    row = {
        "utterances": words["id"].nunique(),
        "words": len(words),
        "mean_abs_start_ms": 1000 * starts.mean(),
        "median_abs_start_ms": 1000 * np.median(starts),
        "mean_abs_end_ms": 1000 * ends.mean(),
        "median_abs_end_ms": 1000 * np.median(ends),
    }
    for tol in tolerances_ms:
        row[f"within_{tol}ms"] = float(np.mean(boundaries <= tol / 1000 + 1e-9))
    row["mean_iou"] = float(words["iou"].mean())
    row["interpolated_share"] = float(words["interpolated"].mean())
    row["wer"] = counts.wer  # summed counts over the group's utterances
    return row


def accuracy_table(
    words, references: Mapping[str, Mapping[str, ReferenceRecord]], tolerances_ms: Sequence[int]
):
    """Per row set (``against``): one row per aligner and voice, plus one per aligner over its voices."""
    import pandas as pd

    rows = []
    for (against, aligner), by_aligner in words.groupby(["against", "aligner"], sort=False):
        pooled = ALL_VOICES if against == EXACT else ALL_REAL_VOICES
        groups = [(pooled, by_aligner), *sorted(by_aligner.groupby("voice"), key=lambda g: g[0])]
        for voice, group in groups:
            records = [references[aligner][i] for i in group["id"].unique()]
            summary = summarise_group(group, records, tolerances_ms)
            rows.append({"aligner": aligner, "voice": voice, "against": against, **summary})
    return pd.DataFrame(rows)


def markdown_table(table) -> str:
    shown = table.copy()
    for column in shown.columns:
        if column.endswith("_ms"):
            shown[column] = shown[column].map(lambda v: f"{v:.0f}")
        elif column.startswith("within_") or column in ("mean_iou", "interpolated_share", "wer"):
            shown[column] = shown[column].map(lambda v: f"{v:.3f}")
    header = "| " + " | ".join(shown.columns) + " |"
    rule = (
        "|" + "|".join("---" if c in ("aligner", "voice", "against") else "---:" for c in shown.columns) + "|"
    )
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def accuracy_figure(words, table, tolerances_ms: Sequence[int], png: Path, pdf: Path) -> None:
    """Left: cumulative share of word boundaries within an error, per aligner (solid: against exact times;
    dashed: agreement with pocketsphinx on real voices). Right: mean IoU per aligner and voice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, bars) = plt.subplots(1, 2, figsize=(11, 4.2))
    grid = np.linspace(0, 250, 501)  # ms
    colours = {aligner: f"C{k}" for k, aligner in enumerate(words["aligner"].unique())}  # one per aligner
    for (against, aligner), group in words.groupby(["against", "aligner"], sort=False):
        errors = 1000 * np.concatenate([group["start_error"].abs(), group["end_error"].abs()])
        label, style = (aligner, "-") if against == EXACT else (f"{aligner} vs pocketsphinx, real", "--")
        cdf.plot(grid, [(errors <= g).mean() for g in grid], style, color=colours[aligner], label=label)
    for tol in tolerances_ms:
        cdf.axvline(tol, color="0.8", lw=0.8, zorder=0)
    cdf.set(xlabel="absolute boundary error (ms)", ylabel="share of word boundaries", ylim=(0, 1.01))
    cdf.set_title("boundary error vs exact times (dashed: agreement on real voices)", fontsize=10)
    cdf.legend(fontsize=8)
    voices = table[~table["voice"].isin([ALL_VOICES, ALL_REAL_VOICES])]
    per_voice = voices.pivot(index="voice", columns="aligner", values="mean_iou")
    per_voice = per_voice[[a for a in table["aligner"].unique() if a in per_voice.columns]]
    per_voice.plot.bar(ax=bars, rot=30, width=0.8)
    bars.set(ylabel="mean word IoU", ylim=(0, 1), xlabel="")
    bars.set_title("word span IoU per voice (real voices: vs pocketsphinx)", fontsize=10)
    bars.legend(fontsize=8)
    plt.setp(bars.get_xticklabels(), ha="right", fontsize=8)
    fig.tight_layout()
    for target in (png, pdf):
        with atomic_path(target) as tmp:  # the staged name keeps the extension
            fig.savefig(tmp, dpi=150)
    plt.close(fig)


def write_accuracy(
    references: Mapping[str, Mapping[str, ReferenceRecord]],
    utterances: Sequence[Utterance],
    tolerances_ms: Sequence[int],
    out_dir: str | os.PathLike,
):
    """accuracy.csv, accuracy.md, accuracy.png, accuracy.pdf under ``out_dir``; returns the table."""
    out = Path(out_dir)
    words = word_errors(references, utterances)
    table = accuracy_table(words, references, tolerances_ms)
    with atomic_path(out / "accuracy.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_text(out / "accuracy.md", markdown_table(table))
    accuracy_figure(words, table, tolerances_ms, out / "accuracy.png", out / "accuracy.pdf")
    return table
