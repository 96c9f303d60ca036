"""Check that every expected output exists and is not trivial (blank figure, empty table, NaN metric,
failed notebook cell); write results/checks.json when all pass, else fail naming each bad output.

    speechalign check --out results/checks.json results/figures/alas_by_layer.png results/tables/corpora.md

`rule check` (the last rule of `snakemake all`) passes the DAG's all_outputs() as the paths.
"""

from __future__ import annotations

import argparse

HELP = "check that every expected output exists and is not trivial (the last step of `snakemake all`)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the report to write when every output passes")
    parser.add_argument("paths", nargs="+", help="the expected outputs (files or folders)")


def run(args: argparse.Namespace) -> None:
    import logging

    from speechalign.report.check import write_checks

    report = write_checks(args.paths, args.out)
    logging.getLogger(__name__).info("%d outputs checked, none missing or trivial", report["checked"])
