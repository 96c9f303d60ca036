"""Execute a report notebook with papermill; the notebook reads results and writes tables and figures.

    speechalign report --notebook notebooks/corpora.ipynb --out results/notebooks/corpora.ipynb \
        -p corpora '["data/corpora/sqa"]' -p tables results/tables -p figures results/figures -p profile quick

Parameter values are parsed as JSON when they parse, else kept as strings.
"""

from __future__ import annotations

import argparse
import json

HELP = "execute a papermill report notebook (tables and figures)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebook", required=True, help="the notebook to execute (notebooks/*.ipynb)")
    parser.add_argument("--out", required=True, help="where to write the executed notebook")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter (JSON or a plain string); repeatable",
    )


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> None:
    from speechalign.report.notebooks import execute

    execute(args.notebook, args.out, {name: parse_value(value) for name, value in args.parameter})
