"""``speechalign <stage> ...``: one subcommand per pipeline stage (a stage's steps are sub-subcommands, e.g.
``speechalign alas respond``). Snakemake rules call these; each parses its arguments and calls the package.

    speechalign --help
    speechalign models --help
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from speechalign import __version__, env
from speechalign.errors import UserFacingError
from speechalign.params import ParamsError

env.passive_openmp()  # before any stage module imports torch

# stage name -> module that defines ``HELP``, ``add_arguments(parser)`` and ``run(args)``.
# Modules import their heavy dependencies inside ``run`` so that ``--help`` stays fast; a command imports only
# its own stage's module (some stage packages import torch, scipy and numba: seconds per job).
STAGES: dict[str, str] = {
    "download": "speechalign.download.cli",
    "models": "speechalign.models.cli",
    "data": "speechalign.data.cli",
    "reference": "speechalign.reference.cli",
    "alas": "speechalign.alas.cli",
    "validity": "speechalign.validity.cli",
    "sift": "speechalign.sift.cli",
    "train": "speechalign.train.cli",
    "evaluate": "speechalign.evaluate.cli",
    "report": "speechalign.report.cli",
}


def requested_stage(argv: Sequence[str]) -> str | None:
    """The stage a command line names (its first word that is not an option), if it is one.

    >>> requested_stage(["-v", "alas", "score", "--help"]), requested_stage(["--help"])
    ('alas', None)
    """
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in STAGES else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (``only``) only that stage's: the others' modules are then not imported."""
    parser = argparse.ArgumentParser(prog="speechalign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"speechalign {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")
    for name, module_name in STAGES.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        stage = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(stage)
        stage.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(requested_stage(argv)).parse_args(argv)
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
