"""The AZEROS paper's Tables 3 to 7 from the evaluate stage's long-form scores, with 95% intervals.

    tables = build_tables(scores, systems_run=["tsit_s", ...], confidence=0.95, bootstrap=1000, seed=0)
    write_tables(tables, "results/tables", profile="quick")     # azeros_table{3..7}.{csv,md}

What the paper's tables hold and how ours map onto them
-------------------------------------------------------
AZEROS (arXiv 2601.06086) reports two column groups throughout: the *semantic* group is VoiceBench
(AlpacaEval, CommonEval, WildVoice, SD-QA, BBH, AdvBench, IFEval, OpenBookQA, MMSU; "Overall" = their mean
with the GPT scores x20), the *paralinguistic* group is AIR-Bench Foundation, speech part (Gender, Emotion,
Age, LID, Entity, Intent; "Avg"), with AIR-Bench Chat (speech) beside it. The column groups are those of the
authors' released tables (AudenAI/Auden, examples/azeros/README.md); the full text of Tables 3-7 could not be
read offline, so their row sets below follow the comparisons the paper makes
(docs/facts.md#azeros-paper-numbers-and-tables: TSIT
22.26 / SIT 57.89 / SIFT 68.70 VoiceBench overall on the small data, final model 73.13, text-only upper
bound 77.52):

- Table 3, the training paradigm: TSIT vs SIT vs SIFT (stage 1, semantic encoder only, transcript-only data),
  semantic group. Ours: ``untrained`` (floor), ``tsit_s``, ``sit_s``, ``sift_s``, ``text`` (upper bound).
- Table 4, the paralinguistic data of stage 2 (sp modes): SIT-sp vs SIFT-sp vs SIFT-s + SIFT-sp, both groups.
  Ours: ``sift_s`` (stage 1 only), ``sit_sp``, ``sift_sp``, ``sift_s+sift_sp``.
- Table 5, the training strategy: one-stage vs two-stage, single vs dual encoder, both groups. Ours:
  ``one-stage``, ``sift_s+sift_sp`` (two-stage, dual), ``single-encoder`` (two-stage data, semantic only).
- Table 6, the system prompt of the data writer (ssp modes, a virtual human who hears voice and words), both
  groups (the paper adds AIR-Bench Chat). Ours: ``sift_s+sift_sp``, ``sift_ssp``, ``sift_ssp+sit_ssp``.
- Table 7, the final comparison with baselines, both groups. Ours: ``text`` (the LLM on the transcript: upper
  bound), ``cascade`` (Whisper ASR then the LLM), ``untrained`` (floor) and the final ``sift_s+sift_sp``.
  Published speech LLMs (GPT-4o, Qwen2-Audio, ...) have no row: they cannot run here.

Our tasks replace theirs: the semantic group has one column per task (``mcq``: multiple choice, OpenBookQA /
MMSU / BBH's role; ``ifeval``: verifiable instructions; ``sqa``: spoken QA on passages, SD-QA's role;
``agreement``: the SBERT cosine of the answers to the spoken instruction and to its transcript, standing in
for the GPT-judged open-ended sets; with the real VoiceBench also ``bbh`` and ``refusal``, AdvBench's) and
``overall``, the mean of those columns. The paralinguistic group has one column per subset of the
``paralinguistic`` task (speaker gender, prosody class) and ``average``. Every value is a score in [0, 1]
times 100 (agreement: cosine x 100).

Several suites (params ``evaluate.suites``; the scores' ``suite`` column)
------------------------------------------------------------------------
Each suite gets its own columns and composites, in suite order: with one suite the names are as above; with
several each is prefixed by its suite (``voicebench/mcq``, ``voicebench/overall``, ``airbench/average``), so
no composite mixes suites. AIR-Bench foundation is the paper's paralinguistic group as a whole (gender,
emotion, age, but also language, entity, intent), so every AIR-Bench subset is a paralinguistic column,
whatever its task.

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
percentile bootstrap over items (resampled within each column; ``bootstrap`` resamples, seeded). Each row says
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

from speechalign.metrics.intervals import bootstrap_interval, column_value, t_interval

__all__ = [
    "PARADIGMS",
    "SEMANTIC_TASKS",
    "TABLES",
    "Cell",
    "Column",
    "TableSpec",
    "bootstrap_interval",
    "build_table",
    "build_tables",
    "cell",
    "columns_for",
    "every_system",
    "long_form",
    "split_tables",
    "t_interval",
    "table_markdown",
    "write_tables",
]

SEMANTIC_TASKS = ("mcq", "ifeval", "sqa", "bbh", "refusal", "agreement")
PARALINGUISTIC_TASK = "paralinguistic"
# Suites whose every subset is a paralinguistic column (AIR-Bench foundation: the paper's paralinguistic
# group).
PARALINGUISTIC_SUITES = ("airbench",)
NOT_APPLICABLE = "not applicable"
# The training paradigms AZEROS Table 3 compares (stage 1): the project's ALAS-vs-benchmark figure shows them.
PARADIGMS = ("tsit_s", "sit_s", "sift_s")
SCALE = 100.0  # scores in [0, 1] are shown in percent, as the paper's tables are
T_INTERVAL, BOOTSTRAP = "t over seeds", "bootstrap over items"


@dataclass(frozen=True)
class Column:
    """A table column: the mean over ``parts``, each a (task, subset) selection (None: any), within
    ``suite`` (None: every suite, as in scores without a ``suite`` column)."""

    name: str
    group: str  # semantic | paralinguistic
    parts: tuple[tuple[str | None, str | None], ...]
    suite: str | None = None


@dataclass(frozen=True)
class TableSpec:
    number: int
    title: str
    rows: tuple[str, ...]  # system names, in order
    groups: tuple[str, ...]  # column groups shown: semantic, paralinguistic


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        3,
        "Training paradigm: TSIT vs SIT vs SIFT (stage 1, semantic encoder)",
        ("untrained", "tsit_s", "sit_s", "sift_s", "text"),
        ("semantic",),
    ),
    TableSpec(
        4,
        "Paralinguistic data of stage 2: SIT-sp vs SIFT-sp vs SIFT-s + SIFT-sp",
        ("sift_s", "sit_sp", "sift_sp", "sift_s+sift_sp"),
        ("semantic", "paralinguistic"),
    ),
    TableSpec(
        5,
        "Training strategy: one-stage vs two-stage, single vs dual encoder",
        ("one-stage", "sift_s+sift_sp", "single-encoder"),
        ("semantic", "paralinguistic"),
    ),
    TableSpec(
        6,
        "System prompt of the data writer (ssp modes)",
        ("sift_s+sift_sp", "sift_ssp", "sift_ssp+sit_ssp"),
        ("semantic", "paralinguistic"),
    ),
    TableSpec(
        7,
        "Final comparison: text-only upper bound, cascade, untrained floor, SIFT",
        ("text", "cascade", "untrained", "sift_s+sift_sp"),
        ("semantic", "paralinguistic"),
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


def suites_of(scores: pd.DataFrame) -> list[str | None]:
    """The suites in ``scores``, in order of first appearance ([None] without a ``suite`` column)."""
    return list(dict.fromkeys(scores["suite"])) if "suite" in scores.columns else [None]


def suite_columns(scores: pd.DataFrame, group: str, suite: str | None) -> list[Column]:
    """One suite's columns of a group, named without a suite prefix (composite last)."""
    whole = suite in PARALINGUISTIC_SUITES
    if group == "semantic":
        tasks = [] if whole else [t for t in SEMANTIC_TASKS if (scores["task"] == t).any()]
        cols = [Column(t, group, ((t, None),), suite) for t in tasks]
        composite = Column("overall", group, tuple((t, None) for t in tasks), suite)
    else:  # paralinguistic
        task = None if whole else PARALINGUISTIC_TASK
        chosen = scores if whole else scores[scores["task"] == PARALINGUISTIC_TASK]
        subsets = sorted(chosen["subset"].dropna().unique())
        cols = [Column(s, group, ((task, s),), suite) for s in subsets]
        composite = Column("average", group, tuple((task, s) for s in subsets), suite)
    return cols + [composite] if cols else []


def columns_for(scores: pd.DataFrame, group: str) -> list[Column]:
    """The columns of a group for the tasks and subsets present in ``scores``, suite by suite (composites
    last in each); with several suites every name carries its suite (``voicebench/mcq``)."""
    if group not in ("semantic", "paralinguistic"):
        raise ValueError(f"unknown column group {group!r}; known: semantic, paralinguistic")
    suites = suites_of(scores)
    columns = []
    for suite in suites:
        mine = scores if suite is None else scores[scores["suite"] == suite]
        for column in suite_columns(mine, group, suite):
            if len(suites) > 1:
                name = f"{suite}/{column.name.removeprefix(f'{suite}/')}"
                column = Column(name, column.group, column.parts, column.suite)
            columns.append(column)
    return columns


def part_scores(scores: pd.DataFrame, task: str | None, subset: str | None, suite: str | None = None):
    """Rows of one part: seed, item, score and whether the item applies to the system."""
    chosen = pd.Series(True, index=scores.index)
    for name, value in (("task", task), ("subset", subset), ("suite", suite)):
        if value is not None:
            chosen &= scores[name] == value
    rows = scores.loc[chosen]
    applicable = rows["applicable"] if "applicable" in rows.columns else True
    return rows[["seed", "item", "score"]].assign(applicable=applicable)


def cell(system_scores: pd.DataFrame, column: Column, confidence: float, resamples: int, seed: int) -> Cell:
    """One system's cell of one column (see the module docstring for the interval rule)."""
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
    for system in spec.rows:
        mine = scores[scores["system"] == system]
        ran = system in systems_run and len(mine) > 0
        note = "run" if ran else "not run"  # never empty: an all-blank column reads as a lost value
        for column in columns:
            c = (
                cell(mine, column, confidence, resamples, seed)
                if ran
                else Cell(math.nan, math.nan, math.nan, "", 0, 0, 0)
            )
            rows.append(
                {
                    "table": spec.number,
                    "system": system,
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
    return pd.DataFrame(
        rows,
        columns=[
            "table", "system", "group", "column", "mean", "low", "high",
            "method", "n_seeds", "n_items", "n_missing", "note", "confidence",
        ],
    )  # fmt: skip


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
    """Every system's cells over every column, by the tables' rules (``table`` 0): the per-task figure."""
    systems = tuple(sorted(scores["system"].unique()))
    spec = TableSpec(0, "every system", systems, ("semantic", "paralinguistic"))
    return build_table(scores, spec, systems, confidence, resamples, seed)


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
    """The table as Markdown: systems as rows, ``group: column`` as columns, ``mean [low, high]`` cells."""
    if table.empty:
        return f"# Table {spec.number}: {spec.title}\n\nNo scores for this table's columns.\n"
    wide = table.assign(
        label=table["group"] + ": " + table["column"],
        text=[
            format_cell(m, lo, hi, how)
            for m, lo, hi, how in zip(
                table["mean"], table["low"], table["high"], table["method"], strict=True
            )
        ],
    )
    order = list(dict.fromkeys(wide["label"]))
    grid = wide.pivot(index="system", columns="label", values="text").reindex(index=list(spec.rows))[order]
    info = wide.groupby("system", sort=False).agg(
        seeds=("n_seeds", "max"),
        interval=("method", lambda m: next((x for x in m if x and x != NOT_APPLICABLE), "")),
        note=("note", "first"),
    )
    grid = grid.join(info).reset_index()
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
