"""``speechalign download``: fetch a public corpus, or register a licence-gated one, into data/raw/<corpus>/.

    speechalign download corpus --name librispeech --out data/raw/librispeech/DOWNLOADED.json
    speechalign download corpus --name iemocap --out data/raw/iemocap/DOWNLOADED.json   # checks your copy
    speechalign download index --out data/raw/corpora.json data/raw/*/DOWNLOADED.json

Sources, checksums and licences are in corpora.lock.yaml; which corpora and subsets, local paths and
timeouts in the `download:` params. Transfers resume after an interruption; a host that cannot be reached
fails within seconds with a clear message.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speechalign.params import add_section_options, section

HELP = "fetch public corpora (or register licence-gated ones) into data/raw/<corpus>/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="<action>")
    corpus = actions.add_parser("corpus", help="fetch or register one corpus of the lock")
    corpus.add_argument("--name", required=True, help="the corpus's entry in the lock, e.g. librispeech")
    corpus.add_argument("--out", required=True, help="its marker: data/raw/<name>/DOWNLOADED.json")
    corpus.add_argument("--lock", help="corpus lock file (default: params download.lock)")
    corpus.add_argument(
        "--cache", default="data/cache/downloads", help="where archives wait while fetched and unpacked"
    )
    add_section_options(corpus, "download")
    index = actions.add_parser("index", help="summarise the markers of the active profile")
    index.add_argument("--out", required=True, help="the index file, e.g. data/raw/corpora.json")
    index.add_argument("markers", nargs="*", help="DOWNLOADED.json markers")


def run(args: argparse.Namespace) -> None:
    from speechalign.download.lock import corpus_spec, read_lock
    from speechalign.download.stage import MARKER, download_corpus, settings_from_params, write_index

    if args.action == "index":
        write_index([Path(m) for m in args.markers], Path(args.out))
        return
    params = section(args, "download")
    out = Path(args.out)
    if out.name != MARKER:
        raise SystemExit(f"--out must name the corpus marker .../{MARKER}, got {out}")
    spec = corpus_spec(read_lock(args.lock or params["lock"]), args.name)
    download_corpus(spec, out.parent, settings_from_params(args.name, params, args.cache))
