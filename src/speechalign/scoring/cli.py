"""``speechalign alas``: ALAS per utterance and layer for one speech LLM on one corpus, with the response
filter's decision per utterance, a summary with bootstrap intervals, and the paths of a few utterances.

    speechalign alas --model composed-untrained --corpus data/corpora/sqa \\
        --responses results/responses/composed-untrained/sqa.parquet \\
        --out results/alas/composed-untrained/sqa.parquet \\
        --summary results/alas/composed-untrained/sqa.json \\
        --examples results/alas/composed-untrained/sqa.examples.npz

Outputs: the tidy table (one row per utterance and layer; columns in ``speechalign.scoring.TABLE_COLUMNS``),
the summary JSON (pooled ALAS per layer, lower is better, with 95% bootstrap intervals, for the kept pairs and
for all; the filter's counts; rejections with reasons) and an npz of MAS, reference and uniform paths.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechalign.cli import add_params_option, stage_params
from speechalign.respond.cli import add_section_option, section, seeded_backend

HELP = "ALAS per utterance and layer (similarity, MAS, reference), table + summary"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a name in params backends.models")
    parser.add_argument("--corpus", required=True, type=Path, help="a corpus manifest folder")
    parser.add_argument("--responses", required=True, type=Path, help="`speechalign respond`'s table")
    parser.add_argument("--out", required=True, type=Path, help="the ALAS table (.parquet)")
    parser.add_argument("--summary", required=True, type=Path, help="the summary (.json)")
    parser.add_argument("--examples", type=Path, help="paths of the first utterances (.npz)")
    parser.add_argument(
        "--reference",
        type=Path,
        help="the reference stage's word times (data/reference/<aligner>/<corpus>.jsonl.gz);"
        " default: the corpus's own exact times (oracle)",
    )
    add_params_option(parser, "alas")
    add_section_option(parser, "backends")
    parser.add_argument("--seed", type=int, help="seed (default: params seed)")


def run(args: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from speechalign.io import atomic_path, write_json
    from speechalign.respond import select_utterances, task_of
    from speechalign.scoring import score_corpus, summarise

    params = stage_params(args, "alas")
    backends = section(args, "backends")
    utterances = select_utterances(args.corpus, params["split"], params["max_utterances"])
    responses = pd.read_parquet(args.responses)
    records, aligner = None, "oracle"
    if args.reference:
        from speechalign.reference import read_reference

        records = read_reference(args.reference)
        aligner = args.reference.parent.name  # data/reference/<aligner>/<corpus>.jsonl.gz
    backend, _, seed = seeded_backend(args, backends)
    table, rejected, examples = score_corpus(
        backend,
        utterances,
        responses,
        task=task_of(args.corpus.name, backends["tasks"]),
        prompts=backends["prompts"],
        normalisation=params["normalisation"],
        reference=aligner,
        n_examples=params["examples"],
        reference_records=records,
    )
    info = {
        "model": args.model,
        "corpus": args.corpus.name,
        "seed": seed,
        "normalisation": params["normalisation"],
        "reference": aligner,
        "threshold": params["threshold"],
        "frame_seconds": backend.frame_seconds,
        "offset_seconds": backend.offset_seconds,
        "hidden_states": backend.num_hidden_states,
    }
    summary = summarise(table, responses, rejected, info, n_boot=params["bootstrap"], seed=seed)
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    if args.examples:
        with atomic_path(args.examples) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **examples)
    write_json(args.summary, summary)
    log.info(
        "%s on %s: %d scored, %d kept, best layer (all) %s",
        args.model,
        args.corpus.name,
        summary["all"]["utterances"],
        summary["kept"]["utterances"],
        summary["all"]["best_layer"],
    )
