"""The output check on hand-made good and trivial outputs: blank and drawn figures (PNG, PDF), empty and
all-NaN tables, NaN JSON, a notebook with an error output, empty folders; and the report it writes."""

from __future__ import annotations

import gzip
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from speechalign.cli import main  # noqa: E402
from speechalign.report.check import (  # noqa: E402
    BLANK_STD,
    OutputCheckError,
    check_output,
    markdown_tables,
    non_finite_numbers,
    write_checks,
)


def figure(path, drawn: bool) -> None:
    fig = plt.figure(figsize=(3, 2))
    if drawn:
        fig.add_subplot().plot([0, 1, 2], [0, 2, 1])
    fig.savefig(path)
    plt.close(fig)


@pytest.mark.parametrize("ext", ["png", "pdf"])
def test_a_drawn_figure_passes_and_a_blank_one_fails(tmp_path, ext):
    figure(tmp_path / f"drawn.{ext}", drawn=True)
    figure(tmp_path / f"blank.{ext}", drawn=False)
    drawn, blank = check_output(tmp_path / f"drawn.{ext}"), check_output(tmp_path / f"blank.{ext}")
    assert drawn.problem is None and drawn.detail["pixel_std"] > BLANK_STD
    assert "blank" in blank.problem and blank.kind == f".{ext}"


def test_a_corrupt_pdf_and_a_truncated_png_cannot_be_read(tmp_path):
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    figure(tmp_path / "cut.png", drawn=True)
    (tmp_path / "cut.png").write_bytes((tmp_path / "cut.png").read_bytes()[:200])
    assert check_output(tmp_path / "bad.pdf").problem.startswith("cannot be read")
    assert check_output(tmp_path / "cut.png").problem.startswith("cannot be read")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a,b\n1,2\n3,\n", None),
        ("", "empty file"),
        ("a,b\n", "table has no rows (columns: ['a', 'b'])"),
        ("a,b\n1,\n2,\n", "column(s) missing in every row: ['b']"),
        ("a,b\n1,nan\n2,NaN\n", "column(s) missing in every row: ['b']"),
        # rows the table marks as not run (a system the profile does not train) may be blank; the others not
        ("system,mean,note\nsift_sp,,not run\nsift_s,0.5,run\n", None),
        ("system,mean,note\nsift_sp,,not run\nsift_ssp,,not run in this profile\n", None),
        ("system,mean,note\nsift_sp,,not run\nsift_s,,run\n", "column(s) missing in every row: ['mean']"),
    ],
)
def test_csv_tables(tmp_path, text, problem):
    (tmp_path / "t.csv").write_text(text)
    assert check_output(tmp_path / "t.csv").problem == problem


def test_tsv_and_parquet_tables(tmp_path):
    (tmp_path / "curve.tsv").write_text("step\tloss\n1\t2.5\n2\t2.1\n")
    pd.DataFrame({"layer": [0, 1], "alas": [0.5, 0.4]}).to_parquet(tmp_path / "good.parquet")
    pd.DataFrame({"layer": [0, 1], "alas": [np.nan, np.nan]}).to_parquet(tmp_path / "nan.parquet")
    pd.DataFrame({"layer": []}).to_parquet(tmp_path / "empty.parquet")
    assert check_output(tmp_path / "curve.tsv").detail == {"rows": 2, "columns": 2}
    assert check_output(tmp_path / "good.parquet").problem is None
    assert check_output(tmp_path / "nan.parquet").problem == "column(s) missing in every row: ['alas']"
    assert check_output(tmp_path / "empty.parquet").problem.startswith("table has no rows")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# Card\n\n| a | b |\n|---|---:|\n| x | 1 |\n", None),
        ("Just prose, no table.\n", None),
        ("  \n\n", "empty markdown"),
        ("| a | b |\n|---|---|\n", "markdown table 1 has no rows"),
        (
            "| a | b |\n|---|---|\n| x | nan |\n| y |  |\n",
            "markdown table 1: column 'b' is missing in every row",
        ),
        ("| a | b | note |\n|---|---|---|\n| x | n/a | not run |\n| y | 2 | run |\n", None),
        ("| a | b | note |\n|---|---|---|\n| x | nan | not run |\n", None),
        (
            "| a | b | note |\n|---|---|---|\n| x | nan | not run |\n| y |  | run |\n",
            "markdown table 1: column 'b' is missing in every row",
        ),
    ],
)
def test_markdown_tables(tmp_path, text, problem):
    (tmp_path / "t.md").write_text(text)
    assert check_output(tmp_path / "t.md").problem == problem


def test_markdown_tables_are_parsed_without_their_rule_lines():
    text = "intro\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n| c |\n|---|\n| 3 |\n"
    assert markdown_tables(text) == [[["a", "b"], ["1", "2"]], [["c"], ["3"]]]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"alas": [0.1, 0.2], "n": 3}', None),
        ('{"alas": {"layers": [0.1, NaN]}}', "1 non-finite number(s), e.g. at $.alas.layers[1]"),
        ('{"a": Infinity, "b": -Infinity}', "2 non-finite number(s), e.g. at $.a, $.b"),
        ("{}", "empty JSON ({})"),
        ("[]", "empty JSON ([])"),
        ('{"a": ', None),  # replaced below: a parse error is a "cannot be read" problem
    ],
)
def test_json(tmp_path, text, problem):
    (tmp_path / "m.json").write_text(text)
    check = check_output(tmp_path / "m.json")
    if text == '{"a": ':
        assert check.problem.startswith("cannot be read: JSONDecodeError")
    else:
        assert check.problem == problem


def test_jsonl_gz_records_must_be_finite(tmp_path):
    with gzip.open(tmp_path / "good.jsonl.gz", "wt") as f:
        f.write('{"id": "a", "start": 0.1}\n{"id": "b", "start": 0.2}\n')
    with gzip.open(tmp_path / "bad.jsonl.gz", "wt") as f:
        f.write('{"id": "a", "start": 0.1}\n{"id": "b", "start": NaN}\n')
    (tmp_path / "blank.jsonl").write_text("\n\n")
    assert check_output(tmp_path / "good.jsonl.gz").detail == {"records": 2}
    assert check_output(tmp_path / "bad.jsonl.gz").problem == "1 non-finite number(s), e.g. at line 2.start"
    assert check_output(tmp_path / "blank.jsonl").problem == "no records"


def notebook(cells: list[dict]) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def code(source: str, count: int | None, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "source": [source], "execution_count": count, "outputs": outputs or [],
            "metadata": {}}  # fmt: skip


def test_notebooks_must_have_run_every_code_cell_without_error(tmp_path):
    error = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}
    markdown = {"cell_type": "markdown", "source": ["# title"], "metadata": {}}
    cases = {
        "good": [markdown, code("x = 1", 1), code("print(x)", 2)],
        "failed": [code("x = 1", 1), code("raise ValueError('boom')", 2, [error])],
        "unrun": [code("x = 1", 1), code("print(x)", None)],
        "empty": [markdown],
    }
    for name, cells in cases.items():
        (tmp_path / f"{name}.ipynb").write_text(notebook(cells))
    assert check_output(tmp_path / "good.ipynb").detail == {"code_cells": 2}
    assert check_output(tmp_path / "failed.ipynb").problem == "code cell 2 failed: ValueError: boom"
    assert check_output(tmp_path / "unrun.ipynb").problem == "code cell 2 was not executed"
    assert check_output(tmp_path / "empty.ipynb").problem == "notebook has no code cells"


def test_tensors_folders_and_missing_paths(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.ones(3, np.float32)}, tmp_path / "f.safetensors")
    save_file({}, tmp_path / "none.safetensors")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x01")
    assert check_output(tmp_path / "f.safetensors").detail == {"tensors": 1}
    assert check_output(tmp_path / "none.safetensors").problem == "no tensors"
    assert check_output(tmp_path / "empty_dir").problem == "folder holds no non-empty file"
    assert check_output(tmp_path / "model").problem is None
    missing = check_output(tmp_path / "nope.csv")
    assert (missing.kind, missing.problem) == ("missing", "does not exist")


def test_the_report_is_written_only_when_every_output_passes(tmp_path):
    (tmp_path / "t.csv").write_text("a\n1\n")
    (tmp_path / "m.json").write_text('{"x": NaN}')
    out = tmp_path / "checks.json"
    report = write_checks([tmp_path / "t.csv", tmp_path / "t.csv"], out)  # duplicates checked once
    assert report["checked"] == 1 and json.loads(out.read_text())["outputs"][0]["detail"] == {
        "rows": 1,
        "columns": 1,
    }
    out.unlink()
    with pytest.raises(
        OutputCheckError, match=r"1 of 2 outputs are missing or trivial: .*m.json: 1 non-finite"
    ):
        write_checks([tmp_path / "t.csv", tmp_path / "m.json"], out)
    assert not out.exists()


def test_the_cli_fails_naming_the_trivial_output(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("a,b\n")
    assert main(["report", "check", "--out", str(tmp_path / "checks.json"), str(tmp_path / "empty.csv")]) != 0
    assert "empty.csv: table has no rows" in capsys.readouterr().err
    assert not (tmp_path / "checks.json").exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


def count_non_finite(value) -> int:
    if isinstance(value, float):
        return int(not math.isfinite(value))
    if isinstance(value, dict):
        return sum(count_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_non_finite(v) for v in value)
    return 0


@given(json_values)
def test_every_non_finite_number_is_found_once(value):
    assert len(list(non_finite_numbers(value))) == count_non_finite(value)
