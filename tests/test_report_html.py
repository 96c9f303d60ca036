"""`snakemake --report report.html` over the quick profile's real DAG, on small fake outputs (no heavy run):
one page with every marked figure and table under its stage's category, each with a caption that names the
params; and rule notebook_html turns an executed notebook into a page."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from workflow_copy import copy_workflow, sh

from speechalign.params import load_params

CATEGORIES = [
    "0. params",
    "1. data",
    "2. reference",
    "3. alas",
    "4. validity",
    "5. sift",
    "6. train",
    "7. evaluate",
    "8. notebooks",
]


def planned_outputs(repo: Path) -> list[str]:
    """Every output of every job `snakemake all` would run from nothing."""
    out = sh("snakemake", "-n", "--forceall", cwd=repo)
    return sorted({p.strip() for block in re.findall(r"output: (.+)", out) for p in block.split(",")})


def fake(path: Path, png: bytes) -> None:
    """A small stand-in of the right kind: a folder, a real PNG, a table, a notebook, or text."""
    if not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        path.write_bytes(png)
    elif path.suffix == ".ipynb":
        nbformat.write(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {path.stem}")]), path
        )
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        path.write_text(f"step{sep}val_loss\n0{sep}1.5\n" if path.suffix in (".csv", ".tsv") else "fake\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The workflow copy with every planned output faked, one notebook exported for real, and the report."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    repo = copy_workflow(tmp_path_factory.mktemp("workflow"))
    outputs = planned_outputs(repo)
    for name in outputs:
        fake(repo / name, buffer.getvalue())
    page = repo / "results" / "notebooks" / "corpora.html"
    page.unlink()
    sh("snakemake", "--cores", "1", "--touch", cwd=repo)  # the fakes count as up to date
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Durations of the corpora")])
    nbformat.write(notebook, repo / "results" / "notebooks" / "corpora.ipynb")  # newer than the page
    sh(
        "snakemake",
        "--cores",
        "1",
        "--allowed-rules",
        "notebook_html",
        "--",
        str(page.relative_to(repo)),
        cwd=repo,
    )
    sh("snakemake", "--report", "report.html", cwd=repo)
    return repo, outputs


def test_notebook_html_exports_the_executed_notebook(built):
    repo, _ = built
    page = (repo / "results" / "notebooks" / "corpora.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "Durations of the corpora" in page


def test_report_is_one_page_with_every_stage_category(built):
    repo, _ = built
    html = (repo / "report.html").read_text()
    missing = [c for c in CATEGORIES if c not in html]
    assert not missing, f"categories not in the report: {missing}"


def test_every_marked_figure_and_table_is_in_the_report(built):
    repo, outputs = built
    html = (repo / "report.html").read_text()
    figures_and_tables = (
        r"\.(png|html)$|^results/tables/.+\.csv$|(accuracy|controls)\.csv$|(curve|probe)\.tsv$"
    )
    marked = [p for p in outputs if re.search(figures_and_tables, p)]
    assert len(marked) > 40
    absent = [p for p in marked if p not in html]
    assert not absent, f"outputs missing from the report: {absent}"


def test_captions_render_the_params_that_made_each_output(built):
    repo, _ = built
    html = (repo / "report.html").read_text()
    assert "tolerances_ms" in html and "20, 50, 100 ms" in html  # reference: quick's tolerances
    steps = load_params(repo, {"profile": "quick"})["train"]["steps"]
    assert re.search(rf"train\.steps.{{0,20}}\({steps}\)", html)  # the quick profile's training steps
    assert "{{" not in html.split("<script")[0]  # every Jinja placeholder was filled
