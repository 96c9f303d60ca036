"""The AZEROS claims on the benchmark scores, one paired comparison each, and which tasks can test them here.

    measurable = task_measurability(scores, items, confidence=0.95, resamples=1000, seed=0)
    rows = score_claims(scores, measurable, confidence=0.95, resamples=1000, seed=0)

A task is **measurable at this scale** when the frozen LLM can do it from the transcript: the ``text``
system's mean score has a lower interval bound above chance (for option-letter tasks the mean of ``1 /
choices`` over the task's items, else 0) and ``text`` beats the ``untrained`` speech system on it (paired on
the same items, interval excluding 0). On any other task no speech system can be told apart from the floor
whatever its training, so a claim there is reported as not measurable, not as a result. ``agreement`` is
scored against ``text``'s own answers (``text`` has no score there): measurable when the task has items.

Each claim of ``SCORE_CLAIMS`` is tested per measurable task it names and on the mean over the measurable
tasks it names (``overall``: every item once), with the paired comparison of
``speechalign.metrics.intervals`` (the same seeds and items; intervals over both; sign-flip p-value). The
behaviour-match claims (``speechalign.evaluate.behaviour.CLAIMS``) sit beside these in the comparisons table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from speechalign.evaluate.behaviour import UNRESOLVED, complete, grid, paired_grids, verdict
from speechalign.evaluate.systems import AGREEMENT, TEXT, UNTRAINED

__all__ = [
    "NOT_MEASURABLE",
    "SCORE_CLAIMS",
    "ScoreClaim",
    "measurable_metrics",
    "pilot_sizing",
    "score_claims",
    "task_measurability",
]

NOT_MEASURABLE = "not measurable at this scale"
OVERALL = "overall"


@dataclass(frozen=True)
class ScoreClaim:
    """A paper's claim on benchmark scores: ``better`` scores above ``worse`` on ``tasks`` (None: every
    task); ``paper`` quotes the paper's numbers."""

    claim: str
    better: str
    worse: str
    tasks: tuple[str, ...] | None
    paper: str


_VB = "VoiceBench overall"
SCORE_CLAIMS: tuple[ScoreClaim, ...] = (
    ScoreClaim("SIT beats TSIT on unseen tasks (Table 3)", "sit_s", "tsit_s", None, f"57.89 vs 22.26, {_VB}"),
    ScoreClaim("SIFT beats SIT on unseen tasks (Table 3)", "sift_s", "sit_s", None, f"68.70 vs 57.89, {_VB}"),
    ScoreClaim("trained SIFT beats its untrained control", "sift_s", UNTRAINED, None, "implied"),
    ScoreClaim("text is the upper bound (Table 5)", TEXT, "sift_s+sift_sp", None, f"77.52 vs 73.13, {_VB}"),
    ScoreClaim(
        "stage 2 lifts the paralinguistic tasks (Table 4)",
        "sift_s+sift_sp",
        "sift_s",
        ("paralinguistic",),
        "AIR-Bench foundation: 77.25 with stage 2",
    ),  # fmt: skip
    ScoreClaim("two stages beat one (Table 6)", "sift_s+sift_sp", "one-stage", None, "Table 6: 2 stages > 1"),
)
COLUMNS = [
    "claim", "paper", "task", "better", "worse", "metric", "higher_is_better", "difference", "low", "high",
    "p_value", "n_seeds", "n_items", "confidence", "verdict",
]  # fmt: skip


def chance_level(items: Sequence) -> float:
    """The mean score of a random guess over ``items``: ``1 / choices`` for option-letter items, else 0."""
    from speechalign.metrics.bench.items import LETTER_TASKS

    guesses = [1 / len(i.choices) if i.task in LETTER_TASKS and i.choices else 0.0 for i in items]
    return float(np.mean(guesses)) if guesses else 0.0


def task_measurability(
    scores: pd.DataFrame, items: Sequence, confidence: float, resamples: int, seed: int
) -> pd.DataFrame:
    """One row per task: ``text``'s mean with its interval, the chance level, ``text - untrained`` with its
    interval, and ``measurable`` (module docstring)."""
    from speechalign.metrics.intervals import crossed_bootstrap, paired_comparison

    by_task: dict[str, list] = {}
    for item in items:
        by_task.setdefault(item.task, []).append(item)
    rows = []
    for task, task_items in sorted(by_task.items()):
        row = {"task": task, "items": len(task_items), "chance": chance_level(task_items)}
        mine = scores[scores["task"] == task]
        if task == AGREEMENT:
            rows.append({**row, "measurable": True, "why": "scored against the text run's answers"})
            continue
        text = complete(grid(mine, TEXT, "score")) if TEXT in set(mine["system"]) else pd.DataFrame()
        if text.size == 0:
            rows.append({**row, "measurable": False, "why": "no text-run scores"})
            continue
        mean, low, high = crossed_bootstrap(text.to_numpy(float)[:1], confidence, resamples, seed)
        row.update(text_mean=mean, text_low=low, text_high=high)
        above_chance = low > row["chance"]
        a, b = paired_grids(mine, TEXT, UNTRAINED, "score") if UNTRAINED in set(mine["system"]) else ((), ())
        beats_floor = False
        if len(a) and np.size(a):
            p = paired_comparison(a, b, confidence, resamples, seed)
            row.update(text_minus_untrained=p.difference, floor_low=p.low, floor_high=p.high)
            beats_floor = p.low > 0
        why = "" if above_chance and beats_floor else (
            "the text run is not above chance" if not above_chance else "the text run does not beat the floor"
        )  # fmt: skip
        rows.append({**row, "measurable": above_chance and beats_floor, "why": why})
    return pd.DataFrame(rows)


def score_claims(
    scores: pd.DataFrame,
    measurable: pd.DataFrame,
    confidence: float,
    resamples: int,
    seed: int,
    claims: Sequence[ScoreClaim] = SCORE_CLAIMS,
) -> pd.DataFrame:
    """Per claim whose systems ran: one row per task it names and one ``overall`` row (the measurable tasks'
    items together); a task that is not measurable gets its row with that verdict and no numbers."""
    from speechalign.metrics.intervals import paired_comparison

    ok: Mapping[str, bool] = dict(zip(measurable["task"], measurable["measurable"], strict=True))
    ran = set(scores["system"])
    out = []
    for c in claims:
        if not {c.better, c.worse} <= ran:
            continue
        tasks = [t for t in (c.tasks or sorted(ok)) if t in ok]
        row = {"claim": c.claim, "paper": c.paper, "better": c.better, "worse": c.worse, "metric": "score",
               "higher_is_better": True, "confidence": confidence}  # fmt: skip
        for task in [*tasks, OVERALL]:
            chosen = [t for t in tasks if ok[t]] if task == OVERALL else [task]
            if not chosen or not ok.get(chosen[0], False):
                out.append({**row, "task": task, "verdict": NOT_MEASURABLE, "n_seeds": 0, "n_items": 0})
                continue
            a, b = paired_grids(scores[scores["task"].isin(chosen)], c.better, c.worse, "score")
            if a.size == 0:
                out.append({**row, "task": task, "verdict": UNRESOLVED, "n_seeds": 0, "n_items": 0})
                continue
            p = paired_comparison(a, b, confidence, resamples, seed)
            out.append(
                {**row, "task": task, "difference": p.difference, "low": p.low, "high": p.high,
                 "p_value": p.p_value, "n_seeds": p.seeds, "n_items": p.items,
                 "verdict": verdict(p, True, confidence)}
            )  # fmt: skip
    return pd.DataFrame(out, columns=COLUMNS)


def measurable_metrics(measurable: pd.DataFrame) -> dict[str, bool]:
    """DVC metrics: whether each task is measurable at this scale."""
    return {row.task: bool(row.measurable) for row in measurable.itertuples()}


def pilot_sizing(
    rows: pd.DataFrame,
    better: str,
    worse: str,
    metric: str = "nll",
    fraction: float = 0.5,
    power: float = 0.8,
) -> dict:
    """From a pilot's behaviour rows: the paired difference ``better - worse`` per item (mean over the seeds
    both ran), its mean and standard deviation, and the items a comparison needs to resolve ``fraction`` of
    that mean with probability ``power`` at 95% (``speechalign.metrics.intervals.items_for_power``); per task
    and over all items."""
    from speechalign.errors import UserFacingError
    from speechalign.evaluate.behaviour import ALL_TASKS
    from speechalign.metrics.intervals import items_for_power

    out = {"better": better, "worse": worse, "metric": metric, "fraction": fraction, "power": power}
    tasks = [ALL_TASKS, *sorted(set(rows["task"]))]
    for task in tasks:
        part = rows if task == ALL_TASKS else rows[rows["task"] == task]
        a, b = paired_grids(part, better, worse, metric)
        if a.size == 0:
            if task == ALL_TASKS:
                raise UserFacingError(f"no items where both {better} and {worse} have a finite {metric}")
            continue
        d = (a - b).mean(axis=0)  # (items,)
        entry = {"items": int(d.size), "seeds": int(a.shape[0]), "mean": float(d.mean())}
        entry["sd"] = float(d.std(ddof=1)) if d.size > 1 else float("nan")
        try:
            entry["items_needed"] = items_for_power(d, fraction, 0.95, power)
        except ValueError as err:
            entry["items_needed"] = None
            entry["why"] = str(err)
        out[task] = entry
    return out
