"""Check that every final output of a run exists and is not trivial, so that a run which "succeeded" with a
blank figure, an empty table or a NaN metric fails loudly instead.

The list of outputs is not kept here: `rule check` (the last rule of `all`) receives the Snakemake DAG's
``all_outputs()`` as its input and passes it on.

    speechalign report check --out results/checks.json results/figures/alas_by_layer.png results/tables/...

Per kind of file:

- PNG, PDF: decodes (every PDF page is rendered) and is not blank: pixel standard deviation above
  ``BLANK_STD`` of full scale;
- CSV, TSV, parquet, markdown tables: at least one row, and no column whose every value is missing;
- JSON, JSONL (also gzipped): parses, is not empty, and every number in it is finite;
- notebooks: every code cell was executed and none has an error output;
- safetensors: the header parses and holds at least one tensor;
- folders: hold at least one non-empty file; anything else: exists and is not empty.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechalign.errors import UserFacingError
from speechalign.io import write_json

BLANK_STD = 0.005  # pixel standard deviation (0-1 scale) below which an image counts as blank
MISSING_CELLS = frozenset({"", "nan", "NaN", "None", "<NA>", "null"})  # empty markdown table cells
NOT_RUN = "not run"  # how a table's note column marks a row the profile does not run
PDF_RENDER_SCALE = 0.5  # 36 dpi: enough to see whether anything is drawn


class TrivialOutput(Exception):
    """An output exists but holds nothing of use; the message says what is wrong."""


class OutputCheckError(UserFacingError):
    """At least one expected output is missing or trivial."""


@dataclass(frozen=True)
class Check:
    path: str
    kind: str
    problem: str | None  # None: the output passed
    detail: dict[str, Any] = field(default_factory=dict)  # what was measured (rows, pixel std, ...)


# --- images ---------------------------------------------------------------------------------------


def pixel_std(pixels: np.ndarray) -> float:
    """Standard deviation of an image's values on a 0-1 scale, over all pixels and channels."""
    scale = 255.0 if pixels.dtype == np.uint8 else 1.0
    return float(np.asarray(pixels, dtype=np.float64).std() / scale)


def require_not_blank(std: float, what: str) -> None:
    if std <= BLANK_STD:
        raise TrivialOutput(f"{what} is blank (pixel std {std:.4f} <= {BLANK_STD})")


def check_png(path: Path) -> dict:
    from matplotlib.image import imread

    std = pixel_std(imread(path))
    require_not_blank(std, "image")
    return {"pixel_std": round(std, 4)}


def check_pdf(path: Path) -> dict:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    try:
        if len(pdf) == 0:
            raise TrivialOutput("PDF has no pages")
        stds = []
        for index in range(len(pdf)):
            bitmap = pdf[index].render(scale=PDF_RENDER_SCALE)
            stds.append(pixel_std(bitmap.to_numpy()))
            require_not_blank(stds[-1], f"page {index + 1}")
    finally:
        pdf.close()
    return {"pages": len(stds), "pixel_std": round(min(stds), 4)}


# --- tables ---------------------------------------------------------------------------------------


def declared_not_run(notes: Iterable[Any]) -> list[bool]:
    """Which rows a table itself marks as not run (its ``note`` column: a system or claim the profile does
    not run): their blank values are declared, not lost."""
    return [str(n).startswith(NOT_RUN) for n in notes]


def require_rows_and_values(frame) -> dict:
    """At least one row, and no column that is missing in every row the table does not mark as not run."""
    if len(frame) == 0:
        raise TrivialOutput(f"table has no rows (columns: {list(frame.columns)[:8]})")
    ran = frame[[not n for n in declared_not_run(frame["note"])]] if "note" in frame.columns else frame
    empty = [str(c) for c in ran.columns if len(ran) and ran[c].isna().all()]
    if empty:
        raise TrivialOutput(f"column(s) missing in every row: {empty}")
    detail = {"rows": len(frame), "columns": len(frame.columns)}
    return detail | ({"not_run": len(frame) - len(ran)} if len(ran) < len(frame) else {})


def check_delimited(path: Path, sep: str) -> dict:
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError as err:
        raise TrivialOutput("empty table (no header)") from err
    return require_rows_and_values(frame)


def check_parquet(path: Path) -> dict:
    import pandas as pd

    return require_rows_and_values(pd.read_parquet(path))


def markdown_tables(text: str) -> list[list[list[str]]]:
    """The pipe tables of a markdown text, each a list of rows of cells (header first, rule dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(set(c) <= set(":- ") and c for c in cells):  # skip the |---|---:| rule
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def check_markdown(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise TrivialOutput("empty markdown")
    tables = markdown_tables(text)
    for k, (header, *body) in enumerate(tables):
        if not body:
            raise TrivialOutput(f"markdown table {k + 1} has no rows")
        if "note" in header:
            note = header.index("note")
            not_run = declared_not_run(row[note] if note < len(row) else "" for row in body)
            body = [row for row, skip in zip(body, not_run, strict=True) if not skip]
        for col, name in enumerate(header):
            if body and all(col >= len(row) or row[col] in MISSING_CELLS for row in body):
                raise TrivialOutput(f"markdown table {k + 1}: column {name!r} is missing in every row")
    return {"tables": len(tables), "rows": sum(len(t) - 1 for t in tables)}


# --- JSON -----------------------------------------------------------------------------------------


def non_finite_numbers(value: Any, where: str = "$") -> Iterator[str]:
    """JSON paths of every NaN or infinite number in ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite_numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from non_finite_numbers(item, f"{where}[{index}]")


def require_finite(value: Any, where: str = "$") -> None:
    bad = list(non_finite_numbers(value, where))
    if bad:
        raise TrivialOutput(f"{len(bad)} non-finite number(s), e.g. at {', '.join(bad[:3])}")


def check_json(path: Path) -> dict:
    value = json.loads(path.read_text(encoding="utf-8"))  # Python's json reads NaN and Infinity
    if value in (None, {}, [], ""):
        raise TrivialOutput(f"empty JSON ({json.dumps(value)})")
    require_finite(value)
    return {"type": type(value).__name__}


def check_jsonl(path: Path) -> dict:
    opener = gzip.open if path.name.endswith(".gz") else open
    records = 0
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                require_finite(json.loads(line), f"line {number}")
                records += 1
    if records == 0:
        raise TrivialOutput("no records")
    return {"records": records}


# --- notebooks, tensors, anything else --------------------------------------------------------------


def check_notebook(path: Path) -> dict:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = [
        c for c in notebook.get("cells", []) if c.get("cell_type") == "code" and "".join(c["source"]).strip()
    ]
    if not code:
        raise TrivialOutput("notebook has no code cells")
    for index, cell in enumerate(code, start=1):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            raise TrivialOutput(
                f"code cell {index} failed: {errors[0].get('ename')}: {errors[0].get('evalue')}"
            )
        if cell.get("execution_count") is None:
            raise TrivialOutput(f"code cell {index} was not executed")
    return {"code_cells": len(code)}


def check_safetensors(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as tensors:
        names = list(tensors.keys())
    if not names:
        raise TrivialOutput("no tensors")
    return {"tensors": len(names)}


def check_folder(path: Path) -> dict:
    files = [p for p in path.rglob("*") if p.is_file()]
    if not any(p.stat().st_size > 0 for p in files):
        raise TrivialOutput("folder holds no non-empty file")
    return {"files": len(files)}


def check_file(path: Path) -> dict:
    return {"bytes": path.stat().st_size}


CHECKERS = {
    ".png": check_png,
    ".pdf": check_pdf,
    ".csv": lambda p: check_delimited(p, ","),
    ".tsv": lambda p: check_delimited(p, "\t"),
    ".parquet": check_parquet,
    ".md": check_markdown,
    ".json": check_json,
    ".jsonl": check_jsonl,
    ".jsonl.gz": check_jsonl,
    ".ipynb": check_notebook,
    ".safetensors": check_safetensors,
}


def kind_of(path: Path) -> str:
    if path.is_dir():
        return "folder"
    name = path.name.lower()
    return next((ext for ext in sorted(CHECKERS, key=len, reverse=True) if name.endswith(ext)), "file")


def check_output(path: str | os.PathLike) -> Check:
    """Check one output; a missing, unreadable, empty or trivial output gives a Check with a problem."""
    path = Path(path)
    if not path.exists():
        return Check(str(path), "missing", "does not exist")
    kind = kind_of(path)
    if kind != "folder" and path.stat().st_size == 0:
        return Check(str(path), kind, "empty file")
    checker = check_folder if kind == "folder" else CHECKERS.get(kind, check_file)
    try:
        return Check(str(path), kind, None, checker(path))
    except TrivialOutput as err:
        return Check(str(path), kind, str(err))
    except Exception as err:  # a decoder's own error (corrupt PNG, bad JSON, ...) is the finding
        return Check(str(path), kind, f"cannot be read: {type(err).__name__}: {str(err)[:200]}")


def check_outputs(paths: Iterable[str | os.PathLike]) -> list[Check]:
    return [check_output(p) for p in dict.fromkeys(str(p) for p in paths)]


def failure_message(failed: Sequence[Check], total: int) -> str:
    shown = "; ".join(f"{c.path}: {c.problem}" for c in failed[:5])
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    return f"{len(failed)} of {total} outputs are missing or trivial: {shown}{more}"


def write_checks(paths: Iterable[str | os.PathLike], out: str | os.PathLike) -> dict[str, Any]:
    """Check every output; write the report to ``out`` only when all pass, else raise with the failures
    (so that Snakemake marks the run failed and keeps no report that says otherwise)."""
    checks = check_outputs(paths)
    failed = [c for c in checks if c.problem is not None]
    if failed:
        raise OutputCheckError(failure_message(failed, len(checks)))
    report = {"checked": len(checks), "failed": 0, "outputs": [asdict(c) for c in checks]}
    write_json(out, report)
    return report
