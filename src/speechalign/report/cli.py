"""``speechalign report``: the report stage, in two steps.

``notebook``: execute a report notebook with papermill; the notebook reads results and writes tables and
figures. Parameter values are parsed as JSON when they parse, else kept as strings.

    speechalign report notebook --notebook notebooks/corpora.ipynb --out results/notebooks/corpora.ipynb \\
        -p corpora '["data/corpora/sqa"]' -p tables results/tables -p figures results/figures -p profile quick

``check``: every expected output exists and is not trivial (blank figure, empty table, NaN metric, failed
notebook cell); writes results/checks.json when all pass, else fails naming each bad output. `rule check`
(the last rule of `snakemake all`) passes the DAG's all_outputs() as the paths.

    speechalign report check --out results/checks.json results/figures/alas_by_layer.png \\
        results/tables/corpora.md
"""

from __future__ import annotations

import argparse
import json
import logging

HELP = "execute a papermill report notebook (notebook); check every expected output (check)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="action", required=True)
    notebook = steps.add_parser("notebook", help="execute a papermill report notebook (tables and figures)")
    notebook.add_argument("--notebook", required=True, help="the notebook to execute (notebooks/*.ipynb)")
    notebook.add_argument("--out", required=True, help="where to write the executed notebook")
    notebook.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter (JSON or a plain string); repeatable",
    )
    check = steps.add_parser("check", help="check that every expected output exists and is not trivial")
    check.add_argument("--out", required=True, help="the report to write when every output passes")
    check.add_argument("paths", nargs="+", help="the expected outputs (files or folders)")


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> None:
    {"notebook": run_notebook, "check": run_check}[args.action](args)


def run_notebook(args: argparse.Namespace) -> None:
    from speechalign.report.notebooks import execute

    execute(args.notebook, args.out, {name: parse_value(value) for name, value in args.parameter})


def run_check(args: argparse.Namespace) -> None:
    from speechalign.report.check import write_checks

    report = write_checks(args.paths, args.out)
    logging.getLogger(__name__).info("%d outputs checked, none missing or trivial", report["checked"])
