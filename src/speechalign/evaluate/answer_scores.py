"""Every system's answers scored item by item: the long-form table the AZEROS tables are built from.

    scores = score_answers(items, answers, embed=sbert_embedder(...))   # one row per (system, seed, item)
    scores = score_answers(items, answers, embed, suite_of={"bench-mcq-00000": "bench", ...})

Columns (``SCORE_COLUMNS``): system, seed, suite, task, subset, item, score, parsed, applicable, reason.
``suite`` is the suite the item came from (``suite_of``; "" when not given). ``score`` is the task
scorer's headline value (:func:`speechalign.metrics.bench.scorers.score_item`); an answer the system could not
give (its input was rejected, the ASR heard nothing) scores 0 with ``parsed`` false and the system's reason,
like an unparseable answer. An agreement item whose text run gave no answer has nothing to compare with: its
score is NaN (the tables leave it out and count it) with the reason recorded. An answer the system recorded
as not applicable (``text`` on an item with no transcript) is not scored: NaN, ``applicable`` false, its
reason kept; the tables show such a cell as not applicable. So is ``text``'s agreement: its speech run is its
text run, so it agrees with itself by construction (1), which no other system can; leaving it out keeps the
upper bound's overall from carrying that free 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = ["SCORE_COLUMNS", "asr_summary", "score_answers"]

SCORE_COLUMNS = [
    "system",
    "seed",
    "suite",
    "task",
    "subset",
    "item",
    "score",
    "parsed",
    "applicable",
    "reason",
]


TEXT_AGREES_WITH_ITSELF = (
    "not applicable: the text system's speech run is its text run (agreement 1 by construction)"
)


def score_one(item, answer, embed) -> tuple[float, bool, str, bool]:
    """(score, parsed, reason, applicable) of one answer to one item."""
    from speechalign.evaluate.systems import AGREEMENT, TEXT
    from speechalign.metrics.bench.scorers import score_item

    if not answer.applicable:
        return math.nan, False, answer.reason, False
    if answer.system == TEXT and item.task == AGREEMENT:
        return math.nan, False, TEXT_AGREES_WITH_ITSELF, False
    if answer.reason:
        return 0.0, False, f"not answered: {answer.reason}", True
    if item.task == AGREEMENT and not (answer.text_answer or "").strip():
        return math.nan, False, "the text run gave no answer to compare with", True
    s = score_item(item, answer.answer, text_answer=answer.text_answer, embed=embed)
    return float(s.score), bool(s.parsed), s.reason, True


def score_answers(
    items: Sequence, answers: Sequence, embed=None, suite_of: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per answer (``SCORE_COLUMNS``); ``suite_of`` maps an item id to its suite. Answers to items
    not in ``items`` are an error: the suite changed since the answers were made."""
    from speechalign.errors import UserFacingError

    by_id = {item.id: item for item in items}
    rows = []
    for answer in answers:
        item = by_id.get(answer.item)
        if item is None:
            raise UserFacingError(
                f"{answer.system} seed {answer.seed} answered item {answer.item!r}, which the benchmark items"
                " do not hold: rerun the evaluate stage's answer jobs"
            )
        score, parsed, reason, applicable = score_one(item, answer, embed)
        suite = (suite_of or {}).get(item.id, "")
        row = (answer.system, answer.seed, suite, item.task, item.subset, item.id, score, parsed)
        rows.append((*row, applicable, reason))
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def asr_summary(answers: Sequence) -> dict:
    """The cascade's corpus WER per (system, seed): summed word errors over summed words (never a mean of
    per-item rates), under our normaliser and, as ``*_whisper``, Whisper's EnglishTextNormalizer."""
    totals: dict[str, list[int]] = {}
    for a in answers:
        if a.asr_words is None:
            continue
        t = totals.setdefault(f"{a.system}/seed{a.seed}", [0, 0, 0, 0])
        t[0] += a.asr_errors or 0
        t[1] += a.asr_words
        t[2] += getattr(a, "asr_errors_whisper", None) or 0
        t[3] += getattr(a, "asr_words_whisper", None) or 0
    rate = lambda e, n: e / n if n else math.nan  # noqa: E731
    return {
        k: {"errors": e, "words": n, "wer": rate(e, n), "errors_whisper": ew, "words_whisper": nw,
            "wer_whisper": rate(ew, nw)}
        for k, (e, n, ew, nw) in totals.items()
    }  # fmt: skip
