"""Reference word times for ALAS, and how accurate each aligner is against exact synthesised times.

    speechalign reference align --corpus data/corpora/sqa --aligner whisper-timestamped \\
        --whisper whisper-base --out data/reference/whisper-timestamped/sqa.jsonl.gz
    speechalign reference accuracy --corpus data/corpora/sqa \\
        --reference data/reference/whisper-timestamped/sqa.jsonl.gz \\
                    data/reference/pocketsphinx/sqa.jsonl.gz \\
        --out-dir results/reference

Aligners: whisper-timestamped, hf-whisper, faster-whisper, pocketsphinx, and oracle (the manifest's exact
times). Settings (beam size, language, threads, tolerances) come from the params' ``reference`` section.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechalign.params import add_section_options, section

HELP = "reference word times (Whisper aligners, pocketsphinx, oracle) and their accuracy"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="<action>")
    build = sub.add_parser("align", help="write the reference file of one corpus for one aligner")
    build.add_argument("--corpus", required=True, help="corpus manifest folder (data/corpora/<corpus>)")
    build.add_argument("--aligner", required=True, help="whisper-timestamped, hf-whisper, faster-whisper, "
                       "pocketsphinx or oracle")  # fmt: skip
    build.add_argument(
        "--whisper", default="whisper-base", help="Whisper model: lock entry, folder or hub id"
    )
    build.add_argument("--out", required=True, help="the reference file to write (.jsonl.gz)")
    build.add_argument(
        "--threads", type=int, default=2, help="CPU threads for the model (default: %(default)s)"
    )
    add_section_options(build, "reference")
    accuracy = sub.add_parser("accuracy", help="aligner error against exact word times: table and figure")
    accuracy.add_argument("--corpus", nargs="+", required=True, help="corpus manifest folders")
    accuracy.add_argument("--reference", nargs="+", required=True, help="reference files, one per aligner")
    accuracy.add_argument("--out-dir", required=True, help="folder for accuracy.{csv,md,png,pdf}")
    add_section_options(accuracy, "reference")


def run_align(args: argparse.Namespace) -> None:
    from speechalign.data.manifest import select_utterances
    from speechalign.reference.aligners import AlignerSettings
    from speechalign.reference.build import build_reference

    params = section(args, "reference")
    settings = AlignerSettings(
        whisper=args.whisper,
        beam_size=params["beam_size"],
        language=params["language"],
        threads=args.threads,
        device=params["device"],
    )
    # the alas stage's selection rule, so equal settings select the same utterances
    if Path(args.corpus).name in params["whole_corpora"]:
        utterances = select_utterances(args.corpus, None, 0)
    else:
        utterances = select_utterances(args.corpus, params["split"], params["max_utterances"])
    build_reference(utterances, args.aligner, settings, args.out)


def run_accuracy(args: argparse.Namespace) -> None:
    from speechalign.data.manifest import read_manifest
    from speechalign.reference.accuracy import AccuracyError, write_accuracy
    from speechalign.reference.build import read_reference

    params = section(args, "reference")
    utterances = [u for folder in args.corpus for u in read_manifest(folder)]
    references: dict = {}
    for path in args.reference:
        records = read_reference(path)
        if not records:
            raise AccuracyError(f"{path} holds no utterances")
        aligner = next(iter(records.values())).aligner
        references.setdefault(aligner, {}).update(records)
    covered = {i for records in references.values() for i in records}
    table = write_accuracy(references, [u for u in utterances if u.id in covered], params["tolerances_ms"],
                           args.out_dir)  # fmt: skip
    pooled = table["voice"].isin(["all", "all-real"])
    log.info("accuracy (all-real: agreement with pocketsphinx):\n%s", table[pooled].to_string(index=False))


def run(args: argparse.Namespace) -> None:
    {"align": run_align, "accuracy": run_accuracy}[args.action](args)
