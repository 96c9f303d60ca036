"""Metrics that can see a training difference at small scale, beside the benchmark tables: how closely each
system's speech run behaves like the frozen LLM's text run, on the benchmark's held-out items (spoken content
and an instruction no training mode saw; the modes' own training prompts would favour each mode by
construction).

Per (system, seed, item), from the answer jobs' answers (``speechalign.evaluate.systems``):

- ``nll`` (behaviour match; lower is better): the teacher-forced NLL per token, under the system's own run
  (the speech run: audio + instruction; ``text``: the transcript; ``cascade``: the ASR text), of the answer
  the ``text`` system gave (the frozen LLM reading the transcript + the same instruction). ``text``'s own NLL
  is the floor, ``untrained``'s the ceiling; :func:`gap_closed` reports ``(untrained - v) / (untrained -
  text)``. Every item counts once, whatever its answer's length. The answer's tokens are scored without an
  end token (an answer does not record whether it ended).
- ``nll_mismatched``: the same NLL when the model hears another item's audio (the next item of the same task
  with audio and a transcript, :func:`mismatched_partners`) with this item's instruction: how much of the
  match comes from the audio.
- ``agreement`` (higher is better): the SBERT cosine of the speech-run answer and ``text``'s answer;
  ``agreement_mismatched``: of the answer to the mismatched audio and ``text``'s answer, the control;
  ``agreement_gain``: their difference, the agreement the audio itself earns. ``text`` has none (its agreement
  is 1 by construction), so it is left out of every agreement figure.
- ``repeats`` (0/1): the answer is mostly the transcript (:func:`repeats_transcript`), the cheapest sign of
  the TSIT collapse AZEROS describes (the model transcribes instead of answering).

:func:`summarise` gives each system's means with intervals over seeds and items (the crossed bootstrap of
``speechalign.metrics.intervals``); :func:`compare` the paired comparisons of the papers' claims (``CLAIMS``):
difference, interval and sign-flip p-value on the same seeds and items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from speechalign.evaluate.systems import TEXT, UNTRAINED

if TYPE_CHECKING:
    from speechalign.metrics.intervals import PairedComparison

__all__ = [
    "CLAIMS",
    "METRICS",
    "Claim",
    "behaviour_rows",
    "compare",
    "containment",
    "gap_closed",
    "interval_text",
    "mismatched_partners",
    "nll_scorer",
    "repeats_transcript",
    "summarise",
]

# metric -> higher is better; the per-item columns of behaviour_rows
METRICS = {
    "nll": False,
    "nll_mismatched": False,
    "agreement": True,
    "agreement_mismatched": True,
    "agreement_gain": True,
    "repeats": False,
}
ROW_COLUMNS = ["system", "seed", "task", "item", *METRICS]
SUMMARY_COLUMNS = [
    "system", "task", "metric", "mean", "low", "high", "higher_is_better", "n_seeds", "n_items", "confidence",
]  # fmt: skip
ALL_TASKS = "all"


# --- the mismatched-audio control -------------------------------------------------------------------------
def mismatched_partners(items: Sequence, per_task: int | None = None) -> dict[str, object]:
    """Each item's partner for the mismatched-audio control: the next item of the same task that has audio and
    a transcript (cyclically, in suite order), so every item's control hears a different item of its kind.
    ``per_task``: only the first that many of each task get one (None: all). Items alone in their task, or
    without audio or transcript, have none.

    >>> from types import SimpleNamespace as I
    >>> items = [I(id=i, task=t, audio="a.flac", spoken="s") for i, t in ["m1", "q1", "m2", "m3"]]
    >>> {k: v.id for k, v in mismatched_partners(items).items()}
    {'m1': 'm2', 'm2': 'm3', 'm3': 'm1'}
    >>> {k: v.id for k, v in mismatched_partners(items, per_task=2).items()}
    {'m1': 'm2', 'm2': 'm1'}
    """
    by_task: dict[str, list] = {}
    for item in items:
        if item.audio and item.spoken.strip():
            by_task.setdefault(item.task, []).append(item)
    groups = [group[:per_task] if per_task is not None else group for group in by_task.values()]
    pairs = [(group[k], group[(k + 1) % len(group)]) for group in groups for k in range(len(group))]
    return {item.id: partner for item, partner in pairs if partner is not item}


# --- repeats the transcript -------------------------------------------------------------------------------
def containment(answer: str, transcript: str) -> tuple[float, float]:
    """(coverage, purity) of ``answer`` against ``transcript`` over normalised tokens (the spoken-QA scorer's
    ``normalise_answer``: case, punctuation, articles, numbers as words), counted as multisets: coverage is
    the share of the transcript's tokens the answer holds, purity the share of the answer's tokens that are
    the transcript's. NaN when either has no token.

    >>> containment("The cat sat on the mat.", "the cat sat on the mat")
    (1.0, 1.0)
    >>> containment("Sure. The cat sat on the mat.", "the cat sat on the mat")
    (1.0, 0.8)
    """
    from collections import Counter

    from speechalign.metrics.bench.scorers import normalise_answer

    a, t = Counter(normalise_answer(answer)), Counter(normalise_answer(transcript))
    if not a or not t:
        return math.nan, math.nan
    shared = sum((a & t).values())
    return shared / sum(t.values()), shared / sum(a.values())


def repeats_transcript(answer: str, transcript: str, threshold: float) -> float:
    """1.0 when the answer is mostly the transcript: it holds at least ``threshold`` of the transcript's
    tokens (coverage) and at least ``threshold`` of its own tokens are the transcript's (purity), by
    :func:`containment`; 0.0 otherwise (an empty answer repeats nothing); NaN without a transcript.

    >>> repeats_transcript("the cat sat on the mat", "The cat sat on the mat.", 0.8)
    1.0
    >>> repeats_transcript("The cat sat on the mat. Cats like mats: soft.", "the cat sat on the mat", 0.8)
    0.0
    """
    from speechalign.metrics.bench.scorers import normalise_answer

    if not normalise_answer(transcript):
        return math.nan
    coverage, purity = containment(answer, transcript)
    return float(coverage >= threshold and purity >= threshold) if math.isfinite(coverage) else 0.0


# --- behaviour match (in the answer job, which holds the model) -------------------------------------------
def nll_scorer(backend) -> Callable[[Sequence[tuple[object, str]]], list]:
    """``score([(run, text), ...]) -> [(summed NLL, tokens) | None, ...]``: each ``text`` teacher-forced
    after a composed backend's run (its ``payload["inputs_embeds"] (1, S, D)``) through the frozen LM
    (``speechalign.train.model.response_nll``, one forward each: batching buys nothing on the CPU,
    docs/performance.md); None for a text without tokens. The text system's own answers need it; an audio
    system's are read off its generation's prefill (``ComposedSpeechLLM.generate_scoring``)."""
    import torch

    from speechalign.train.model import response_nll

    def score_one(run, text: str) -> tuple[float, int] | None:
        ids = backend.tokenizer(text, add_special_tokens=False).input_ids
        if not ids:
            return None
        with torch.inference_mode():
            total = response_nll(backend.llm, run.payload["inputs_embeds"][0], ids)
        return float(total), len(ids)

    return lambda pairs: [score_one(run, text) for run, text in pairs]


# --- per item ---------------------------------------------------------------------------------------------
def _per_token(total: float | None, tokens: int | None) -> float:
    return total / tokens if total is not None and tokens else math.nan


def behaviour_rows(items: Sequence, answers: Sequence, embed, threshold: float) -> pd.DataFrame:
    """One row per answer to an item with audio and a transcript (``ROW_COLUMNS``); ``embed``: SBERT (texts ->
    vectors), for agreement against ``text``'s answers (none given: agreement is NaN)."""
    by_id = {item.id: item for item in items if item.audio and item.spoken.strip()}
    reference = {a.item: a.answer for a in answers if a.system == TEXT and a.answer.strip()}
    cosine = _cosines(answers, reference, embed)
    rows = []
    for a in answers:
        item = by_id.get(a.item)
        if item is None or not a.applicable:
            continue
        agree, control = math.nan, math.nan
        if a.system != TEXT and a.item in reference:  # text's agreement is 1 by construction: left out
            agree = cosine(a.answer, reference[a.item])
            if a.mismatched_answer is not None:
                control = cosine(a.mismatched_answer, reference[a.item])
        rows.append(
            {
                "system": a.system, "seed": a.seed, "task": item.task, "item": a.item,
                "nll": _per_token(a.reference_nll, a.reference_tokens),
                "nll_mismatched": _per_token(a.mismatched_nll, a.reference_tokens),
                "agreement": agree, "agreement_mismatched": control, "agreement_gain": agree - control,
                "repeats": repeats_transcript(a.answer, item.spoken, threshold),
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def _cosines(answers: Sequence, reference: Mapping[str, str], embed) -> Callable[[str, str], float]:
    """SBERT cosine of two texts, every distinct text embedded once; an empty answer agrees 0 (as the
    agreement scorer has it)."""
    from speechalign.metrics.bench.scorers import cosine

    texts = {t for a in answers for t in (a.answer, a.mismatched_answer) if t and t.strip()}
    texts = sorted(texts | set(reference.values()))
    vectors = dict(zip(texts, np.asarray(embed(texts)), strict=True)) if embed is not None and texts else {}

    def score(answer: str | None, ref: str) -> float:
        if not vectors:
            return math.nan
        return cosine(vectors[answer], vectors[ref]) if answer and answer.strip() else 0.0

    return score


# --- per system -------------------------------------------------------------------------------------------
def grid(rows: pd.DataFrame, system: str, metric: str, task: str = ALL_TASKS) -> pd.DataFrame:
    """``(seeds, items)`` of one system's metric (items of ``task``, or all)."""
    mine = rows[rows["system"] == system]
    if task != ALL_TASKS:
        mine = mine[mine["task"] == task]
    return mine.pivot(index="seed", columns="item", values=metric)


def complete(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the items with a finite value in every seed."""
    return frame.loc[:, np.isfinite(frame.to_numpy(dtype=float)).all(axis=0)]


def summarise(rows: pd.DataFrame, confidence: float, resamples: int, seed: int) -> pd.DataFrame:
    """Per system, task (and ``all``) and metric: the mean over seeds and items with its crossed-bootstrap
    interval, and the seeds and items it covers; the gap closed per system beside (``all`` tasks)."""
    from speechalign.metrics.intervals import crossed_bootstrap

    out = []
    tasks = [ALL_TASKS, *sorted(rows["task"].unique())]
    for system in sorted(rows["system"].unique()):
        for task in tasks:
            for metric, higher in METRICS.items():
                values = complete(grid(rows, system, metric, task))
                if values.shape[1] == 0:
                    continue
                mean, low, high = crossed_bootstrap(values.to_numpy(dtype=float), confidence, resamples, seed)
                out.append(
                    {
                        "system": system, "task": task, "metric": metric, "mean": mean, "low": low,
                        "high": high, "higher_is_better": higher, "n_seeds": values.shape[0],
                        "n_items": values.shape[1], "confidence": confidence,
                    }
                )  # fmt: skip
    for system, gap in gap_closed(rows).items():  # a point value: the comparisons carry the intervals
        out.append({"system": system, "task": ALL_TASKS, "metric": "gap_closed", "mean": gap,
                    "higher_is_better": True, "confidence": confidence})  # fmt: skip
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def gap_closed(rows: pd.DataFrame) -> dict[str, float]:
    """``(untrained - v) / (untrained - text)`` of the mean NLL per system v, over the items every one of the
    three has in every seed (untrained and v paired by seed): 0 at the untrained projector, 1 at the text
    run. Empty without ``untrained`` and ``text`` rows."""
    systems = set(rows["system"])
    if not {TEXT, UNTRAINED} <= systems:
        return {}
    gaps = {}
    for system in sorted(systems - {TEXT}):
        frames = [complete(grid(rows, s, "nll")) for s in (UNTRAINED, system, TEXT)]
        common = sorted(set.intersection(*(set(f.columns) for f in frames)))
        seeds = sorted(set(frames[0].index) & set(frames[1].index))
        if not common or not seeds:
            continue
        untrained, variant = (f.loc[seeds, common].to_numpy().mean() for f in frames[:2])
        floor = frames[2].loc[:, common].to_numpy().mean()
        gaps[system] = (untrained - variant) / (untrained - floor) if untrained != floor else math.nan
    return gaps


# --- paired comparisons -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """A paper's claim as one paired comparison: ``better`` beats ``worse`` on ``metric``."""

    claim: str
    better: str
    worse: str
    metric: str


_UNSEEN = "on unseen tasks (AZEROS Table 3)"
CLAIMS: tuple[Claim, ...] = (
    *(
        Claim(f"{b} beats {w} {_UNSEEN}", b, w, m)
        for b, w in (("sit_s", "tsit_s"), ("sift_s", "sit_s"), ("sift_s", "tsit_s"))
        for m in ("nll", "agreement_gain")
    ),
    Claim("tsit_s repeats the transcript more than sift_s (TSIT collapse)", "sift_s", "tsit_s", "repeats"),
    Claim("trained sift_s beats its untrained control", "sift_s", UNTRAINED, "nll"),
    Claim("trained sift_s beats its untrained control", "sift_s", UNTRAINED, "agreement_gain"),
    Claim("text is the upper bound (the floor of the behaviour NLL)", TEXT, "sift_s", "nll"),
)
HOLDS, OPPOSITE, UNRESOLVED = "holds", "does not hold", "not resolved"


def paired_grids(rows: pd.DataFrame, a: str, b: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Two systems' ``(seeds, items)`` values on the same seeds and items: the items both have in every seed,
    the seeds both ran; a seed-free system (``text``, ``cascade``: run once) stands beside every seed."""
    from speechalign.evaluate.systems import SEED_FREE

    grids = {s: complete(grid(rows, s, metric)) for s in (a, b)}
    items = sorted(set(grids[a].columns) & set(grids[b].columns))
    seeded = [set(g.index) for s, g in grids.items() if s not in SEED_FREE]
    seeds = sorted(set.intersection(*seeded)) if seeded else [grids[a].index[0]]
    if not items or not seeds:
        return np.empty((0, 0)), np.empty((0, 0))

    def pick(system: str) -> np.ndarray:  # (seeds, items)
        g = grids[system]
        return np.stack([g.loc[g.index[0] if system in SEED_FREE else s, items] for s in seeds]).astype(float)

    return pick(a), pick(b)


def verdict(comparison: PairedComparison, better_is_higher: bool, confidence: float) -> str:
    """holds: the interval of better - worse excludes 0 on the claimed side and the sign-flip p-value is
    below 1 - confidence; does not hold: both, on the other side. Both tests must agree: with few items the
    bootstrap interval can exclude 0 where no sign-flip p could (4 items: p >= 0.125)."""
    low, high, p = comparison.low, comparison.high, comparison.p_value
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 <= high or not p < 1 - confidence:
        return UNRESOLVED
    return HOLDS if (low > 0) == better_is_higher else OPPOSITE


def compare(
    rows: pd.DataFrame, confidence: float, resamples: int, seed: int, claims: Sequence[Claim] = CLAIMS
) -> pd.DataFrame:
    """One row per claim whose two systems ran: better minus worse (the metric's own direction stated),
    its interval over seeds and items and the sign-flip p-value (``speechalign.metrics.intervals
    .paired_comparison``), the seeds and items paired, and the verdict."""
    from speechalign.metrics.intervals import paired_comparison

    out = []
    ran = set(rows["system"])
    for c in claims:
        if not {c.better, c.worse} <= ran:
            continue
        a, b = paired_grids(rows, c.better, c.worse, c.metric)
        row = {"claim": c.claim, "better": c.better, "worse": c.worse, "metric": c.metric,
               "higher_is_better": METRICS[c.metric], "confidence": confidence}  # fmt: skip
        if a.size == 0:
            out.append({**row, "verdict": UNRESOLVED, "n_seeds": 0, "n_items": 0})
            continue
        p = paired_comparison(a, b, confidence, resamples, seed)
        out.append(
            {
                **row, "difference": p.difference, "low": p.low, "high": p.high, "p_value": p.p_value,
                "n_seeds": p.seeds, "n_items": p.items, "verdict": verdict(p, METRICS[c.metric], confidence),
            }
        )  # fmt: skip
    columns = ["claim", "better", "worse", "metric", "higher_is_better", "difference", "low", "high",
               "p_value", "n_seeds", "n_items", "confidence", "verdict"]  # fmt: skip
    return pd.DataFrame(out, columns=columns)


def metrics(summary: pd.DataFrame, comparisons: pd.DataFrame) -> dict:
    """DVC metrics: each system's means over all tasks, and each claim's difference, interval, p-value and
    verdict (NaN left out: metrics must be finite)."""
    finite = lambda v: isinstance(v, int | float) and math.isfinite(v)  # noqa: E731
    systems: dict = {}
    for row in summary[summary["task"] == ALL_TASKS].itertuples():
        if finite(row.mean):
            systems.setdefault(row.system, {})[row.metric] = round(float(row.mean), 4)
    claims = {}
    for row in comparisons.itertuples():
        numbers = {k: round(float(getattr(row, k)), 4) for k in ("difference", "low", "high", "p_value")}
        task = getattr(row, "task", None)  # score claims (evaluate.findings) are per task
        key = f"{row.better} vs {row.worse}/{row.metric}" + (f"/{task}" if isinstance(task, str) else "")
        claims[key] = {
            **{k: v for k, v in numbers.items() if finite(v)},
            "verdict": row.verdict,
        }
    return {"systems": systems, "comparisons": claims}


# --- for reading (the evaluate notebook) ------------------------------------------------------------------
def interval_text(mean: float, low: float, high: float) -> str:
    """``mean [low, high]`` to 3 decimals; the mean alone without an interval, "n/a" without a mean."""
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.3f}" if not math.isfinite(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def readable_summary(summary: pd.DataFrame, task: str = ALL_TASKS) -> pd.DataFrame:
    """One row per system, one column per metric (``mean [low, high]``; gap closed as a point value), and the
    seeds and most items a metric covers."""
    mine = summary[summary["task"] == task]
    cells = [
        interval_text(m, lo, hi) for m, lo, hi in zip(mine["mean"], mine["low"], mine["high"], strict=True)
    ]
    wide = mine.assign(cell=cells).pivot(index="system", columns="metric", values="cell")
    order = [m for m in [*METRICS, "gap_closed"] if m in wide.columns]
    counts = mine.groupby("system").agg(seeds=("n_seeds", "max"), items=("n_items", "max"))
    return wide[order].join(counts).fillna("n/a").reset_index()


def readable_comparisons(comparisons: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (and task, for the score claims of ``speechalign.evaluate.findings``): the paper's
    number where quoted, better minus worse with its interval, the p-value, what was paired, the verdict."""
    keep = ["claim", "paper", "task", "metric", "better", "worse"]
    out = comparisons.reindex(columns=keep)
    # a column absent from the claims is all-NaN float: cast to text before filling
    out[["paper", "task"]] = out[["paper", "task"]].astype(object).fillna("")
    out = out.drop(columns=[c for c in ("paper", "task") if not out[c].astype(bool).any()])
    out["better - worse"] = [
        interval_text(d, lo, hi)
        for d, lo, hi in zip(comparisons["difference"], comparisons["low"], comparisons["high"], strict=True)
    ]
    out["sign wanted"] = ["+" if h else "-" for h in comparisons["higher_is_better"]]
    out["p"] = comparisons["p_value"]
    out["seeds x items"] = [f"{s} x {n}" for s, n in zip(comparisons["n_seeds"], comparisons["n_items"],
                                                          strict=True)]  # fmt: skip
    out["verdict"] = comparisons["verdict"]
    return out
