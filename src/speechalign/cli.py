"""``speechalign <stage> ...``: one subcommand per pipeline stage. Snakemake rules call these; each
subcommand parses its arguments and calls one function of the package.

    speechalign --help
    speechalign models --help
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from speechalign import __version__, env
from speechalign.config import ParamsError, load_params
from speechalign.errors import UserFacingError

env.passive_openmp()  # before any stage module imports torch

# stage name -> module that defines ``HELP``, ``add_arguments(parser)`` and ``run(args)``.
# Modules import their heavy dependencies inside ``run`` so that ``--help`` stays fast.
STAGES: dict[str, str] = {
    "data": "speechalign.data.cli",
    "download": "speechalign.download.cli",
    "models": "speechalign.models.cli",
    "respond": "speechalign.respond.cli",
    "alas": "speechalign.scoring.cli",
    "validity": "speechalign.validity.cli",
    "reference": "speechalign.reference.cli",
    "sift-targets": "speechalign.sift.cli_targets",
    "sift-probe": "speechalign.sift.cli_probe",
    "features": "speechalign.sift.cli_features",
    "train": "speechalign.sift.cli_train",
    "sift-eval": "speechalign.sift.cli_eval",
    "evaluate": "speechalign.evaluate.cli",
    "report": "speechalign.report.cli",
    "check": "speechalign.report.cli_check",
}


def stage_params(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The stage's params section: the JSON a rule passed with ``--params``, else params.yaml's."""
    if getattr(args, "params", None):
        return json.loads(args.params)
    return load_params(".")[section]


def add_params_option(parser: argparse.ArgumentParser, section: str) -> None:
    parser.add_argument(
        "--params",
        metavar="JSON",
        help=f"the '{section}' section of the resolved params as JSON (rules pass it); "
        f"default: read params.yaml and its profile from the current folder",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="speechalign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"speechalign {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")
    for name, module_name in STAGES.items():
        module = importlib.import_module(module_name)
        stage = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(stage)
        stage.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    env.default_offline()
    env.set_cache_dirs()
    try:
        args.run(args)
    except (ParamsError, UserFacingError) as err:
        print(f"speechalign {args.stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
