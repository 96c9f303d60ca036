"""Report machinery: artefact writers, the corpora summary, and notebook execution."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from speechalign.errors import UserFacingError
from speechalign.report.outputs import save_figure, save_table


def test_save_table_writes_csv_and_markdown(tmp_path):
    table = pd.DataFrame({"model": ["a", "b"], "alas": [0.123456, 1.5]})
    csv, md = save_table(table, tmp_path, "t")
    assert pd.read_csv(csv).equals(table)
    assert md.read_text().splitlines()[2:] == ["| a       |  0.123 |", "| b       |  1.500 |"]


def test_save_figure_is_reproducible(tmp_path):
    def draw():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return fig

    png, pdf = save_figure(draw(), tmp_path / "one", "f")
    again = save_figure(draw(), tmp_path / "two", "f")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    assert [p.read_bytes() for p in (png, pdf)] == [p.read_bytes() for p in again]


def write_notebook(path, code: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("value = 1\nout = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_notebook_runs_with_parameters(tmp_path):
    from speechalign.report.notebooks import execute

    write_notebook(tmp_path / "nb.ipynb", "open(out, 'w').write(str(value * 2))")
    execute(tmp_path / "nb.ipynb", tmp_path / "done.ipynb", {"value": 21, "out": str(tmp_path / "r.txt")})
    assert (tmp_path / "r.txt").read_text() == "42"
    assert (tmp_path / "done.ipynb").is_file()


def test_failing_notebook_is_a_clear_error_and_keeps_the_old_output(tmp_path):
    from speechalign.report.notebooks import execute

    (tmp_path / "done.ipynb").write_text("previous")
    write_notebook(tmp_path / "nb.ipynb", "raise ValueError('no results for model x')")
    with pytest.raises(UserFacingError, match="ValueError: no results for model x"):
        execute(tmp_path / "nb.ipynb", tmp_path / "done.ipynb", {})
    assert (tmp_path / "done.ipynb").read_text() == "previous"
    assert "no results for model x" in (tmp_path / "done.failed.ipynb").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.failed.ipynb", "done.ipynb", "nb.ipynb"]


def test_cli_parses_json_parameters():
    from speechalign.report.cli import parse_value

    assert parse_value('["a", "b"]') == ["a", "b"]
    assert parse_value("3") == 3
    assert parse_value("results/tables") == "results/tables"
    assert json.dumps(parse_value("quick")) == '"quick"'
