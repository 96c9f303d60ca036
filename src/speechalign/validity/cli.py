"""``speechalign validity``: ALAS's positive and negative controls for one speech LLM on one corpus, scored
under every normalisation of params ``validity.normalisations``; the default normalisation chosen by them.

    speechalign validity --model composed-untrained --corpus data/corpora/sqa \\
        --out results/validity/composed-untrained/sqa.parquet \\
        --separation results/validity/composed-untrained/sqa.separation.csv \\
        --summary results/validity/composed-untrained/sqa.json

Outputs: the tidy table (utterance x condition x normalisation x layer; columns in
``speechalign.validity.TABLE_COLUMNS``), the separation table (normalisation x layer x negative: AUC, effect
size, sweep Spearman) and the summary JSON (the chosen default with the criterion and the ranking, pooled
calibrated ALAS per condition and layer).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechalign.params import add_section_options, section, top_level

HELP = "ALAS validity: oracle, sweeps and negative controls per normalisation; the default chosen by them"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a name in params backends.models")
    parser.add_argument("--corpus", required=True, type=Path, help="a corpus manifest folder")
    parser.add_argument("--out", required=True, type=Path, help="the tidy table (.parquet)")
    parser.add_argument("--separation", required=True, type=Path, help="the separation table (.csv)")
    parser.add_argument("--summary", required=True, type=Path, help="the summary (.json)")
    add_section_options(parser, "validity", "backends")
    parser.add_argument("--seed", type=int, help="seed (default: params seed)")


def run(args: argparse.Namespace) -> None:
    from speechalign.alas import task_of
    from speechalign.backends import backend_spec, load_named_backend
    from speechalign.data.manifest import select_utterances
    from speechalign.io import atomic_path, write_json, write_text
    from speechalign.validity import CRITERION, conditions, pooled, ranking, separation, validate_corpus
    from speechalign.validity.controls import untrained_is_model
    from speechalign.validity.separation import summary_pooled

    params = section(args, "validity")
    backends = section(args, "backends")
    utterances = select_utterances(args.corpus, params["split"], params["max_utterances"])
    seed = top_level(args, "seed")
    backend = load_named_backend(backends, args.model, seed)
    controls = conditions(params["noise_scales"], params["jitter_seconds"], params["negatives"])
    table, rejected = validate_corpus(
        backend,
        utterances,
        task=task_of(args.corpus.name, backends["tasks"]),
        prompts=backends["prompts"],
        conditions=controls,
        normalisations=params["normalisations"],
        components=params["components"],
        seed=seed,
    )
    sep = separation(table)
    ranked = ranking(sep)
    summary = {
        "model": args.model,
        "corpus": args.corpus.name,
        "seed": seed,
        "lower_is_better": True,
        "reference": "oracle (the corpus's exact word times)",
        "frame_seconds": backend.frame_seconds,
        "utterances": sorted(table["utterance"].unique().tolist()),
        "rejected": rejected,
        "conditions": [c.__dict__ for c in controls],
        "normalisations": params["normalisations"],
        "components": params["components"],
        "untrained_is_model": untrained_is_model(backend_spec(backends, args.model)),
        "criterion": CRITERION,
        "default": str(ranked["normalisation"].iloc[0]),
        "ranking": ranked.to_dict(orient="records"),
        "pooled": summary_pooled(pooled(table)),
    }
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    write_text(args.separation, sep.to_csv(index=False))
    write_json(args.summary, summary)
    log.info("%s on %s: default normalisation %s", args.model, args.corpus.name, summary["default"])
