"""The AZEROS paper's Tables 3 to 7, numbered as the paper numbers them and with its rows (those that can run
here, and our untrained floor: see below), from the evaluate stage's long-form scores, with 95% intervals.

    tables = build_tables(scores, systems_run=["tsit_s", ...], confidence=0.95, bootstrap=1000, seed=0)
    write_tables(tables, "results/tables", profile="quick")     # azeros_table{3..7}.{csv,md}

The paper's tables and ours
---------------------------
AZEROS (arXiv 2601.06086; docs/facts.md#azeros-paper-numbers-and-tables) reports two column groups: the
*semantic* group is VoiceBench (AlpacaEval, CommonEval, WildVoice, SD-QA, BBH, AdvBench, IFEval, OBQA, MMSU
and their Overall), the *paralinguistic* group AIR-Bench foundation, speech part (Gender, Emotion, Age, LID,
Entity, Intent and their Avg), with AIR-Bench Chat beside it (a GPT-4 judge: no column here). ``TABLES``
holds the paper's tables with the paper's rows, each row a system of ours (``Row``: our system, the paper's
row name, the paper's group of rows):

- Table 3, stage 1, semantic only: TSIT_s, SIT_s, SIFT_s (``tsit_s``, ``sit_s``, ``sift_s``); semantic group.
- Table 4, multi-stage training: stage 1 SIFT_s; stage 2 SIT_sp, SIFT_sp, SIFT_s + SIFT_sp (``sift_s``,
  ``sit_sp``, ``sift_sp``, ``sift_s+sift_sp``); both groups.
- Table 5, text-only, cascaded and end-to-end systems: ``text`` (the LLM reading the transcript), ``cascade``
  (Whisper ASR then the LLM), and end to end the final model ``sift_s+sift_sp`` beside ``untrained`` (the
  same architecture with an untrained projector: our floor, not a row of the paper; the published speech LLMs
  of the paper's rows cannot run here); both groups.
- Table 6, the ablation of training strategy and architecture: two stages, dual encoder (``sift_s+sift_sp``);
  one stage, dual encoder (``one-stage``); one stage, one encoder (``single-encoder``); both groups.
- Table 7, the system prompt of the data writer: SIFT_sp, SIFT_ssp, SIFT_ssp + SIT_ssp (``sift_sp``,
  ``sift_ssp``, ``sift_ssp+sit_ssp``); both groups.

Columns, per suite (params ``evaluate.suites``; the scores' ``suite`` column)
-----------------------------------------------------------------------------
- ``voicebench``: the semantic group is the paper's, one column per VoiceBench subset the data has, in the
  paper's order, and ``overall``, their mean: the paper's Overall (it scales the GPT-judged 1-5 scores x20,
  onto 0-100 like the rest; our stand-in for them, the agreement cosine x100, is on that scale already). When
  the data lacks subsets the column says how many it averages (``overall (6/9)``): not the paper's Overall.
  Our pooled view, one column per task (``mcq`` pools OpenBookQA and MMSU, ``agreement`` the three
  GPT-judged sets) and their mean, is the separate ``pooled`` group: in ``every_system`` (the per-task
  figure), not in the paper's tables.
- ``airbench``: the paralinguistic group is the paper's: gender, emotion, age, lid, entity, intent and
  ``average`` of these six (``average (k/6)`` when fewer are loaded); any other loaded AIR-Bench task is an
  extra column after the average, outside it.
- any other suite (the embedded ``bench``): semantic, one column per task (``mcq``, ``ifeval``, ``sqa``,
  ``agreement``, and ``bbh`` or ``refusal`` where present) and ``overall``, their mean; paralinguistic, one
  column per subset of the ``paralinguistic`` task (speaker ``gender``, ``prosody`` class) and ``average``.

IFEval (group ``ifeval``, after the paper's groups in every table; per suite with IFEval items): the
reference's four numbers, ``prompt_strict``, ``prompt_loose``, ``instruction_strict`` and
``instruction_loose`` (instruction level: followed instructions over all instructions, summed over items,
not a mean of per-item shares), and ``average``, the mean of the four: VoiceBench's IFEval number, the one the
paper's IFEval column reports. The semantic ``ifeval`` column stays prompt-level strict (the items' headline
score, in the overall). These cells read the per-item IFEval counts that ``with_ifeval_counts`` adds to the
scores (``ifeval_counts``); scores without them have no ``ifeval`` group.

With one suite the names are as above; with several each is prefixed by its suite (``voicebench/mmsu``,
``airbench/average``), so no composite mixes suites. A composite is the mean of its columns' values (never of
pooled items). Every value is a score in [0, 1] times 100 (agreement: cosine x 100).

Not applicable
--------------
An item a system cannot take (``text`` on a clip without a transcript: AIR-Bench) has ``applicable`` false
in the scores. A cell with such an item is not applicable (method ``not applicable``, no value; Markdown
says so): never a 0, never a dropped row, and never a mean over fewer items than the other systems had.

Intervals (per cell)
--------------------
A cell's value is, per seed, the mean over its items (a composite column: the mean of its columns), then the
mean over seeds. With two or more seeds the interval is Student's t over the seed means,
``mean +- t_{(1+c)/2, n-1} * sd / sqrt(n)`` (not clipped to the score range); with one seed (quick) it is a
percentile bootstrap over items (resampled within each column; ``bootstrap`` resamples, seeded; an IFEval
cell resamples its items once for all the levels it averages, each level a ratio of sums). Each row says
which. NaN scores are left out of the means and counted in ``n_missing``; a composite column is NaN unless all
its columns have a value. A system run has the note "run", one not run a row of NaN with the note "not run"; a
system run with fewer seeds than the others gets its interval from the seeds it has (``n_seeds``: how many).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speechalign.metrics.bench.ifeval import MODES
from speechalign.metrics.intervals import (
    bootstrap_interval,
    column_value,
    ratio_bootstrap_interval,
    ratio_value,
    t_interval,
)

__all__ = [
    "AIRBENCH_TASKS",
    "GROUPS",
    "IFEVAL_COLUMNS",
    "IFEVAL_COUNTS",
    "PARADIGMS",
    "SEMANTIC_TASKS",
    "TABLES",
    "VOICEBENCH_SUBSETS",
    "Cell",
    "Column",
    "Row",
    "TableSpec",
    "bootstrap_interval",
    "build_table",
    "build_tables",
    "cell",
    "columns_for",
    "every_system",
    "ifeval_counts",
    "long_form",
    "split_tables",
    "t_interval",
    "table_markdown",
    "with_ifeval_counts",
    "write_tables",
]

SEMANTIC, PARALINGUISTIC, IFEVAL, POOLED = "semantic", "paralinguistic", "ifeval", "pooled"
GROUPS = (SEMANTIC, PARALINGUISTIC, IFEVAL, POOLED)
SEMANTIC_TASKS = ("mcq", "ifeval", "sqa", "bbh", "refusal", "agreement")
IFEVAL_TASK = "ifeval"
# Per-item IFEval counts the ifeval group reads (``metrics.bench.scorers.score_ifeval``'s metrics).
IFEVAL_COUNTS = ("instructions", *(f"{k}_{m}" for m in MODES for k in ("prompt", "followed")))
# A level: (numerator, denominator or None for 1 per item), summed over items. Prompt level: prompts that
# follow all their instructions over prompts; instruction level: followed instructions over instructions.
IFEVAL_LEVELS = {
    "prompt_strict": ("prompt_strict", None),
    "prompt_loose": ("prompt_loose", None),
    "instruction_strict": ("followed_strict", "instructions"),
    "instruction_loose": ("followed_loose", "instructions"),
}
# The ifeval group's columns: (name, the levels it averages); ``average`` is VoiceBench's IFEval number.
IFEVAL_COLUMNS = (
    ("prompt_strict", ("prompt_strict",)),
    ("prompt_loose", ("prompt_loose",)),
    ("instruction_strict", ("instruction_strict",)),
    ("instruction_loose", ("instruction_loose",)),
    ("average", ("prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose")),
)
PARALINGUISTIC_TASK = "paralinguistic"
# The paper's VoiceBench columns in its order (our subsets "voicebench/<name>"); its Overall averages all 9.
VOICEBENCH_SUBSETS = (
    "alpacaeval", "commoneval", "wildvoice", "sd-qa", "bbh", "advbench", "ifeval", "openbookqa", "mmsu",
)  # fmt: skip
# The paper's AIR-Bench foundation (speech) columns: (column, task name as the meta file spells it); its Avg
# averages these six.
AIRBENCH_TASKS = (
    ("gender", "Speaker_Gender_Recognition"),
    ("emotion", "Speaker_Emotion_Recontion"),
    ("age", "Speaker_Age_Prediction"),
    ("lid", "Spoken_Language_Identification"),
    ("entity", "Speech_Entity_Reconition"),
    ("intent", "Speaker_Intent_Classification"),
)
NOT_APPLICABLE = "not applicable"
# The training paradigms AZEROS Table 3 compares (stage 1): the project's ALAS-vs-benchmark figure shows them.
PARADIGMS = ("tsit_s", "sit_s", "sift_s")
SCALE = 100.0  # scores in [0, 1] are shown in percent, as the paper's tables are
T_INTERVAL, BOOTSTRAP = "t over seeds", "bootstrap over items"
LONG_COLUMNS = [
    "table", "section", "label", "system", "group", "column", "mean", "low", "high",
    "method", "n_seeds", "n_items", "n_missing", "note", "confidence",
]  # fmt: skip


@dataclass(frozen=True)
class Column:
    """A table column: the mean over ``parts``, each a (task, subset) selection (None: any), within
    ``suite`` (None: every suite, as in scores without a ``suite`` column)."""

    name: str
    group: str  # semantic | paralinguistic | ifeval | pooled
    parts: tuple[tuple[str | None, str | None], ...]
    suite: str | None = None
    levels: tuple[str, ...] = ()  # ifeval group: the IFEval levels (IFEVAL_LEVELS) it averages


@dataclass(frozen=True)
class Row:
    """A table row: our system, the paper's name for the row, and the paper's group of rows (none: the
    long form names the table's title, so that no column is blank in every row)."""

    system: str  # a variant of params train.run, or a baseline (text, cascade, untrained)
    label: str
    section: str = ""


@dataclass(frozen=True)
class TableSpec:
    number: int
    title: str
    rows: tuple[Row, ...]
    groups: tuple[str, ...]  # column groups shown: semantic, paralinguistic

    @property
    def systems(self) -> tuple[str, ...]:
        return tuple(r.system for r in self.rows)


BOTH = (SEMANTIC, PARALINGUISTIC, IFEVAL)  # the paper's two groups, then IFEval's four numbers
STAGE1, STAGE2 = "Stage 1: semantic-only", "Stage 2: semantic + paralinguistic"
TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        3,
        "Semantic-only alignment (stage 1): TSIT_s vs SIT_s vs SIFT_s",
        (Row("tsit_s", "TSIT_s"), Row("sit_s", "SIT_s"), Row("sift_s", "SIFT_s")),
        (SEMANTIC, IFEVAL),
    ),
    TableSpec(
        4,
        "Multi-stage training: stage 1 SIFT_s; stage 2 SIT_sp, SIFT_sp, SIFT_s + SIFT_sp",
        (
            Row("sift_s", "SIFT_s", STAGE1),
            Row("sit_sp", "SIT_sp", STAGE2),
            Row("sift_sp", "SIFT_sp", STAGE2),
            Row("sift_s+sift_sp", "SIFT_s + SIFT_sp", STAGE2),
        ),
        BOTH,
    ),
    TableSpec(
        5,
        "Comparison with text-only, cascaded and end-to-end systems",
        (
            Row("text", "the LLM on the transcript", "Text only model"),
            Row("cascade", "Whisper + the LLM", "Cascaded system"),
            Row("untrained", "untrained projector (our floor, not in the paper)", "End-to-end speech LLM"),
            Row("sift_s+sift_sp", "AZEROS (SIFT_s + SIFT_sp)", "End-to-end speech LLM"),
        ),
        BOTH,
    ),
    TableSpec(
        6,
        "Ablation: training strategy (two stages vs one) and architecture (two encoders vs one)",
        (
            Row("sift_s+sift_sp", "dual encoder (AZEROS)", "2 stages"),
            Row("one-stage", "dual encoder", "1 stage"),
            Row("single-encoder", "single Whisper encoder", "1 stage"),
        ),
        BOTH,
    ),
    TableSpec(
        7,
        "System prompt of the data writer: SIFT_sp vs SIFT_ssp vs SIFT_ssp + SIT_ssp",
        (
            Row("sift_sp", "SIFT_sp"),
            Row("sift_ssp", "SIFT_ssp"),
            Row("sift_ssp+sit_ssp", "SIFT_ssp + SIT_ssp"),
        ),
        BOTH,
    ),
)


@dataclass(frozen=True)
class Cell:
    mean: float
    low: float
    high: float
    method: str  # T_INTERVAL, BOOTSTRAP, NOT_APPLICABLE, or "" when there is no value
    n_seeds: int
    n_items: int  # scored items (per seed, summed over the column's parts; the most over seeds)
    n_missing: int  # NaN scores left out (summed over seeds and parts)


# --- columns ------------------------------------------------------------------------------------------------
def suites_of(scores: pd.DataFrame) -> list[str | None]:
    """The suites in ``scores``, in order of first appearance ([None] without a ``suite`` column)."""
    return list(dict.fromkeys(scores["suite"])) if "suite" in scores.columns else [None]


def composite(name: str, group: str, columns: Sequence[Column], suite: str | None, of: int = 0) -> Column:
    """The mean of ``columns``; named with how many of ``of`` it averages when some are missing."""
    if of and len(columns) < of:
        name = f"{name} ({len(columns)}/{of})"
    return Column(name, group, tuple(p for c in columns for p in c.parts), suite)


def task_columns(scores: pd.DataFrame, group: str, suite: str | None) -> list[Column]:
    """One column per semantic task and ``overall``, their mean (our pooled view of a suite)."""
    cols = [Column(t, group, ((t, None),), suite) for t in SEMANTIC_TASKS if (scores["task"] == t).any()]
    return cols + [composite("overall", group, cols, suite)] if cols else []


def voicebench_columns(scores: pd.DataFrame, suite: str | None) -> list[Column]:
    """The paper's VoiceBench columns the data has, and ``overall``, their mean."""
    present = set(scores["subset"])
    cols = [
        Column(s, SEMANTIC, ((None, f"voicebench/{s}"),), suite)
        for s in VOICEBENCH_SUBSETS
        if f"voicebench/{s}" in present
    ]
    return cols + [composite("overall", SEMANTIC, cols, suite, len(VOICEBENCH_SUBSETS))] if cols else []


def airbench_columns(scores: pd.DataFrame, suite: str | None) -> list[Column]:
    """The paper's six AIR-Bench columns the data has, their ``average``, then any other loaded task."""
    present = set(scores["subset"].dropna())
    paper = [
        Column(name, PARALINGUISTIC, ((None, f"airbench/{task}"),), suite)
        for name, task in AIRBENCH_TASKS
        if f"airbench/{task}" in present
    ]
    known = {f"airbench/{task}" for _, task in AIRBENCH_TASKS}
    extra = [
        Column(s.removeprefix("airbench/"), PARALINGUISTIC, ((None, s),), suite)
        for s in sorted(present - known)
    ]
    average = [composite("average", PARALINGUISTIC, paper, suite, len(AIRBENCH_TASKS))] if paper else []
    return paper + average + extra


def subset_columns(scores: pd.DataFrame, suite: str | None) -> list[Column]:
    """One column per subset of the paralinguistic task and ``average``, their mean."""
    subsets = sorted(scores.loc[scores["task"] == PARALINGUISTIC_TASK, "subset"].dropna().unique())
    cols = [Column(s, PARALINGUISTIC, ((PARALINGUISTIC_TASK, s),), suite) for s in subsets]
    return cols + [composite("average", PARALINGUISTIC, cols, suite)] if cols else []


def ifeval_columns(scores: pd.DataFrame, suite: str | None) -> list[Column]:
    """IFEval's four numbers and their mean (``IFEVAL_COLUMNS``), when the suite has IFEval items and the
    scores carry their counts (``with_ifeval_counts``)."""
    if not set(IFEVAL_COUNTS) <= set(scores.columns) or not (scores["task"] == IFEVAL_TASK).any():
        return []
    return [Column(name, IFEVAL, ((IFEVAL_TASK, None),), suite, levels) for name, levels in IFEVAL_COLUMNS]


def suite_columns(scores: pd.DataFrame, group: str, suite: str | None) -> list[Column]:
    """One suite's columns of a group, named without a suite prefix (see the module docstring)."""
    if group == IFEVAL:
        return ifeval_columns(scores, suite)
    if suite == "airbench":  # the paper's paralinguistic group as a whole
        return airbench_columns(scores, suite) if group == PARALINGUISTIC else []
    if group == PARALINGUISTIC:
        return subset_columns(scores, suite)
    if suite == "voicebench":
        return voicebench_columns(scores, suite) if group == SEMANTIC else task_columns(scores, POOLED, suite)
    return task_columns(scores, SEMANTIC, suite) if group == SEMANTIC else []  # its tasks are its view


def columns_for(scores: pd.DataFrame, group: str) -> list[Column]:
    """The columns of a group for the tasks and subsets present in ``scores``, suite by suite (composites
    after their columns); with several suites every name carries its suite (``voicebench/mmsu``)."""
    if group not in GROUPS:
        raise ValueError(f"unknown column group {group!r}; known: {', '.join(GROUPS)}")
    suites = suites_of(scores)
    columns = []
    for suite in suites:
        mine = scores if suite is None else scores[scores["suite"] == suite]
        for column in suite_columns(mine, group, suite):
            if len(suites) > 1:
                column = Column(
                    f"{suite}/{column.name}", column.group, column.parts, column.suite, column.levels
                )
            columns.append(column)
    return columns


# --- cells and tables ---------------------------------------------------------------------------------------
def part_scores(scores: pd.DataFrame, task: str | None, subset: str | None, suite: str | None = None):
    """Rows of one part: seed, item, score and whether the item applies to the system."""
    chosen = pd.Series(True, index=scores.index)
    for name, value in (("task", task), ("subset", subset), ("suite", suite)):
        if value is not None:
            chosen &= scores[name] == value
    rows = scores.loc[chosen]
    applicable = rows["applicable"] if "applicable" in rows.columns else True
    return rows[["seed", "item", "score"]].assign(applicable=applicable)


def ifeval_cell(
    system_scores: pd.DataFrame, column: Column, confidence: float, resamples: int, seed: int
) -> Cell:
    """One system's cell of an ifeval column: per seed the mean of the column's levels, each a ratio of
    counts summed over the items; over seeds a t interval, with one seed a bootstrap over items."""
    chosen = system_scores["task"] == IFEVAL_TASK
    if column.suite is not None:
        chosen &= system_scores["suite"] == column.suite
    rows = system_scores.loc[chosen]
    seeds = sorted({int(s) for s in rows["seed"].unique()})
    if "applicable" in rows.columns and not rows["applicable"].all():
        return Cell(math.nan, math.nan, math.nan, NOT_APPLICABLE, len(seeds), 0, 0)
    missing = rows[list(IFEVAL_COUNTS)].isna().any(axis=1)
    counted = rows.loc[~missing]
    per_seed = {}
    for s in seeds:
        mine = counted[counted["seed"] == s]
        ones = np.ones(len(mine))
        num = np.stack([mine[IFEVAL_LEVELS[lv][0]].to_numpy(dtype=float) for lv in column.levels])
        den = np.stack(
            [ones if IFEVAL_LEVELS[lv][1] is None else mine["instructions"].to_numpy(dtype=float)
             for lv in column.levels]
        )  # fmt: skip
        per_seed[s] = (num, den, ratio_value(num, den))
    n_items = max((per_seed[s][0].shape[1] for s in seeds), default=0)
    valued = [s for s in seeds if math.isfinite(per_seed[s][2])]
    if not valued:
        return Cell(math.nan, math.nan, math.nan, "", len(seeds), n_items, int(missing.sum()))
    if len(valued) >= 2:
        mean, low, high = t_interval([per_seed[s][2] for s in valued], confidence)
        return Cell(mean, low, high, T_INTERVAL, len(valued), n_items, int(missing.sum()))
    num, den, _ = per_seed[valued[0]]
    mean, low, high = ratio_bootstrap_interval(num, den, confidence, resamples, seed)
    return Cell(mean, low, high, BOOTSTRAP, 1, n_items, int(missing.sum()))


def cell(system_scores: pd.DataFrame, column: Column, confidence: float, resamples: int, seed: int) -> Cell:
    """One system's cell of one column (see the module docstring for the interval rule)."""
    if column.levels:
        return ifeval_cell(system_scores, column, confidence, resamples, seed)
    parts = [part_scores(system_scores, task, subset, column.suite) for task, subset in column.parts]
    seeds = sorted({int(s) for p in parts for s in p["seed"].unique()})
    if any(not p["applicable"].all() for p in parts):  # a value over fewer items would not be comparable
        return Cell(math.nan, math.nan, math.nan, NOT_APPLICABLE, len(seeds), 0, 0)
    n_missing = int(sum(p["score"].isna().sum() for p in parts))
    per_seed = {}
    n_items = 0
    for s in seeds:
        arrays = [p.loc[p["seed"] == s, "score"].to_numpy(dtype=float) for p in parts]
        per_seed[s] = (arrays, column_value(arrays))
        n_items = max(n_items, sum(int(np.isfinite(a).sum()) for a in arrays))
    valued = [s for s in seeds if math.isfinite(per_seed[s][1])]
    if not valued:
        return Cell(math.nan, math.nan, math.nan, "", len(seeds), n_items, n_missing)
    if len(valued) >= 2:
        mean, low, high = t_interval([per_seed[s][1] for s in valued], confidence)
        return Cell(mean, low, high, T_INTERVAL, len(valued), n_items, n_missing)
    mean, low, high = bootstrap_interval(per_seed[valued[0]][0], confidence, resamples, seed)
    return Cell(mean, low, high, BOOTSTRAP, 1, n_items, n_missing)


def build_table(
    scores: pd.DataFrame,
    spec: TableSpec,
    systems_run: Sequence[str],
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Long form: one row per (system, column) with mean, low, high (x100), method, counts and a note.

    ``scores``: the stage's long-form scores (columns system, seed, task, subset, item, score).
    ``systems_run``: the systems the active profile evaluates; a row's system outside it is "not run"."""
    columns = [c for g in spec.groups for c in columns_for(scores, g)]
    rows = []
    for row in spec.rows:
        mine = scores[scores["system"] == row.system]
        ran = row.system in systems_run and len(mine) > 0
        note = "run" if ran else "not run"  # never empty: an all-blank column reads as a lost value
        for column in columns:
            c = cell(mine, column, confidence, resamples, seed) if ran else Cell(*[math.nan] * 3, "", 0, 0, 0)
            rows.append(
                {
                    "table": spec.number,
                    "section": row.section or spec.title,
                    "label": row.label,
                    "system": row.system,
                    "group": column.group,
                    "column": column.name,
                    "mean": c.mean * SCALE,
                    "low": c.low * SCALE,
                    "high": c.high * SCALE,
                    "method": c.method,
                    "n_seeds": c.n_seeds,
                    "n_items": c.n_items,
                    "n_missing": c.n_missing,
                    "note": note,
                    "confidence": confidence,
                }
            )
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def build_tables(
    scores: pd.DataFrame,
    systems_run: Sequence[str],
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[int, pd.DataFrame]:
    """Tables 3 to 7 (``TABLES``), keyed by number."""
    return {
        spec.number: build_table(scores, spec, systems_run, confidence, resamples, seed) for spec in TABLES
    }


def every_system(
    scores: pd.DataFrame, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Every system's cells over every column of every group, the pooled view included, by the tables'
    rules (``table`` 0): the per-task figure."""
    systems = tuple(sorted(scores["system"].unique()))
    spec = TableSpec(0, "every system", tuple(Row(s, s) for s in systems), GROUPS)
    return build_table(scores, spec, systems, confidence, resamples, seed)


def ifeval_counts(items: Sequence, answers: Sequence) -> pd.DataFrame:
    """Per (system, seed, item) of an IFEval item, its counts (``IFEVAL_COUNTS``: instructions, and per mode
    whether the prompt followed all of them and how many it followed), scored as the headline is
    (``score_ifeval``): an answer the system could not give follows nothing, its instructions still counted;
    an answer not applicable to the system has no row."""
    from speechalign.metrics.bench.scorers import score_ifeval

    by_id = {item.id: item for item in items}
    rows = []
    for answer in answers:
        item = by_id.get(answer.item)
        if item is None or item.task != IFEVAL_TASK or not answer.applicable:
            continue
        metrics = score_ifeval(None if answer.reason else answer.answer, item.rules).metrics
        rows.append((answer.system, answer.seed, item.id, *(metrics[k] for k in IFEVAL_COUNTS)))
    frame = pd.DataFrame(rows, columns=["system", "seed", "item", *IFEVAL_COUNTS])
    return frame.astype({"seed": int, **dict.fromkeys(IFEVAL_COUNTS, float)})


def with_ifeval_counts(scores: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the IFEval count columns of ``counts`` (``ifeval_counts``) on their rows (NaN on other
    tasks' rows): what the ifeval group's cells read. No counts: ``scores`` as it is (no all-NaN columns)."""
    keys = ["system", "seed", "item"]
    if counts.empty:
        return scores
    if counts.duplicated(keys).any():
        raise ValueError("ifeval counts hold a (system, seed, item) twice: answers were read twice")
    merged = scores.drop(columns=[c for c in IFEVAL_COUNTS if c in scores.columns]).merge(
        counts[[*keys, *IFEVAL_COUNTS]], on=keys, how="left", validate="many_to_one"
    )
    return merged.set_axis(scores.index)


def long_form(tables: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Every table in one frame (the ``table`` column tells them apart), as the evaluate stage stores them."""
    return pd.concat([tables[n] for n in sorted(tables)], ignore_index=True)


def split_tables(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """The inverse of :func:`long_form`."""
    return {int(n): rows.reset_index(drop=True) for n, rows in frame.groupby("table", sort=True)}


def format_cell(mean: float, low: float, high: float, method: str = "") -> str:
    if method == NOT_APPLICABLE:
        return NOT_APPLICABLE
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def table_markdown(table: pd.DataFrame, spec: TableSpec, profile: str) -> str:
    """The table as Markdown: the paper's rows (its row group and name, our system), ``group: column`` as
    columns, ``mean [low, high]`` cells."""
    if table.empty:
        return f"# Table {spec.number}: {spec.title}\n\nNo scores for this table's columns.\n"
    wide = table.assign(
        header=table["group"] + ": " + table["column"],
        text=[
            format_cell(m, lo, hi, how)
            for m, lo, hi, how in zip(
                table["mean"], table["low"], table["high"], table["method"], strict=True
            )
        ],
    )
    order = list(dict.fromkeys(wide["header"]))
    grid = wide.pivot(index="system", columns="header", values="text").reindex(index=list(spec.systems))[
        order
    ]
    info = wide.groupby("system", sort=False).agg(
        seeds=("n_seeds", "max"),
        interval=("method", lambda m: next((x for x in m if x and x != NOT_APPLICABLE), "")),
        note=("note", "first"),
    )
    rows = pd.DataFrame(
        {"section": [r.section for r in spec.rows], "paper row": [r.label for r in spec.rows]},
        index=pd.Index(spec.systems, name="system"),
    )
    if not rows["section"].any():
        rows = rows.drop(columns="section")
    grid = rows.join(grid).join(info).reset_index()[[*rows.columns, "system", *order, *info.columns]]
    return (
        f"# Table {spec.number}: {spec.title}\n\n"
        f"Profile {profile}. Scores x100, mean [{table['confidence'].iloc[0]:.0%} interval]; the interval"
        " column says whether it is a t interval over seeds or a bootstrap over items (one seed).\n\n"
        + grid.to_markdown(index=False)
        + "\n"
    )


def write_tables(tables: Mapping[int, pd.DataFrame], folder: str | os.PathLike, profile: str) -> list[Path]:
    """``folder/azeros_table{N}.csv`` (long form, full precision) and ``.md`` for every table, atomically."""
    from speechalign.io import write_text

    specs = {s.number: s for s in TABLES}
    written = []
    for number, table in tables.items():
        csv, md = Path(folder) / f"azeros_table{number}.csv", Path(folder) / f"azeros_table{number}.md"
        write_text(csv, table.to_csv(index=False))
        write_text(md, table_markdown(table, specs[number], profile))
        written += [csv, md]
    return written


def metrics(tables: Mapping[int, pd.DataFrame]) -> dict:
    """``{"table3": {system: {"group/column": mean}}}`` for DVC metrics (NaN left out)."""
    out: dict = {}
    for number, table in tables.items():
        entry: dict = {}
        for row in table.itertuples():
            if math.isfinite(row.mean):
                entry.setdefault(row.system, {})[f"{row.group}/{row.column}"] = round(float(row.mean), 4)
        out[f"table{number}"] = entry
    return out
