"""``speechalign validity``: can ALAS see alignment here? Two steps.

``aligned``: train the aligned projector (the positive control through the real audio path) on the fit split
of the corpora (``speechalign.validity.aligned``).

    speechalign validity aligned --model composed-untrained \\
        --corpora data/corpora/sqa data/corpora/paralinguistic data/corpora/sift --out data/validity/aligned

``score``: ALAS's controls for one speech LLM on one split of one corpus, under every normalisation of params
``validity.normalisations``: the oracle (laid out from the exact word times by the encoder's geometry) and its
sweeps, the aligned model and the ruler to the untrained projector, the negatives, and (on test) the placed
models. On ``dev`` the normalisation and headline layer are chosen; ``test`` reports them (``--selection``:
the dev summary).

    speechalign validity score --model composed-untrained --corpus data/corpora/sqa --split dev \\
        --aligned data/validity/aligned/projector --out results/validity/composed-untrained/sqa/dev.parquet \\
        --separation results/validity/composed-untrained/sqa/dev.separation.csv \\
        --summary results/validity/composed-untrained/sqa/dev.json

Outputs: the tidy table (utterance x condition x normalisation x layer; columns in
``speechalign.validity.measure.TABLE_COLUMNS``), the separation table (normalisation x layer x negative: AUC,
effect size, sweep and ruler Spearman) and the summary JSON (selection, timing check, ruler and placements,
pooled ALAS per condition and layer). The stage fails when the oracle does not sit on the reference at layer 0
(the backend's timing is wrong).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from speechalign.params import add_section_options, section, top_level

HELP = "ALAS validity: the aligned projector (aligned); controls, ruler and normalisation choice (score)"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="action", required=True)
    aligned = steps.add_parser("aligned", help="train the aligned projector on the fit split")
    score = steps.add_parser("score", help="controls, ruler and placements on the dev or test split")
    for p in (aligned, score):
        p.add_argument("--model", required=True, help="a composed entry of params backends.models (the base)")
        p.add_argument("--seed", type=int, help="seed (default: params seed)")
        add_section_options(p, "validity", "backends")
    aligned.add_argument("--corpora", required=True, type=Path, nargs="+", help="corpus manifest folders")
    aligned.add_argument("--out", required=True, type=Path, help="folder: projector/ and aligned.json")
    score.add_argument("--corpus", required=True, type=Path, help="a corpus manifest folder")
    score.add_argument("--split", required=True, choices=["dev", "test"])
    score.add_argument("--aligned", type=Path, help="the aligned projector folder (aligned, ruler controls)")
    score.add_argument("--selection", type=Path, help="test: the dev summary whose selection is reported")
    score.add_argument("--out", required=True, type=Path, help="the tidy table (.parquet)")
    score.add_argument("--separation", required=True, type=Path, help="the separation table (.csv)")
    score.add_argument("--summary", required=True, type=Path, help="the summary (.json)")


def run(args: argparse.Namespace) -> None:
    {"aligned": run_aligned, "score": run_score}[args.action](args)


def run_aligned(args: argparse.Namespace) -> None:
    from speechalign.backends import ProjectorConfig, load_named_backend
    from speechalign.io import atomic_path, write_json
    from speechalign.validity.aligned import position_data, summary_card, train_aligned
    from speechalign.validity.splits import validity_utterances

    params = section(args, "validity")
    cfg = params["aligned"]
    seed = top_level(args, "seed")
    backend = load_named_backend(section(args, "backends"), args.model, seed)
    fit, dev = [], []
    for corpus in args.corpora:
        fit += validity_utterances(corpus, "fit", params["dev_share"], seed)
        dev += validity_utterances(corpus, "dev", params["dev_share"], seed)
    train_data, held_out = position_data(backend, fit), position_data(backend, dev)
    base = backend.projector.config
    config = ProjectorConfig(base.encoder_dim, base.llm_dim, cfg["hidden"], base.stack)
    projector, curve = train_aligned(train_data, config, cfg["steps"], cfg["lr"], cfg["batch_size"], seed)
    card = summary_card(train_data, held_out, curve, projector)
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        projector.save(tmp / "projector")
        write_json(tmp / "aligned.json", {"model": args.model, "seed": seed, **cfg, **card})
    log.info("aligned projector: held-out token accuracy %.3f (chance %.3f)", card["token_accuracy_heldout"],
             card["chance_heldout"])  # fmt: skip


def placed_backends(backends, base: str, names, seed: int) -> dict:
    """The placed models' backends; each must share the base's LM (the text runs are the base's)."""
    from speechalign.backends import backend_spec, load_named_backend
    from speechalign.errors import UserFacingError

    llm = backend_spec(backends, base).get("llm")
    other = [n for n in names if backend_spec(backends, n).get("llm") != llm]
    if other:
        raise UserFacingError(f"validity.place models {other} do not use the base model's LM {llm!r}")
    return {name: load_named_backend(backends, name, seed) for name in names}


def run_score(args: argparse.Namespace) -> None:
    from speechalign.alas.respond import task_of
    from speechalign.backends import Projector, load_named_backend
    from speechalign.errors import UserFacingError
    from speechalign.io import atomic_path, write_json, write_text
    from speechalign.validity.controls import conditions
    from speechalign.validity.measure import validate_corpus
    from speechalign.validity.separation import ranking, separation
    from speechalign.validity.splits import validity_utterances
    from speechalign.validity.summary import split_summary

    params = section(args, "validity")
    backends = section(args, "backends")
    seed = top_level(args, "seed")
    utterances = validity_utterances(
        args.corpus, args.split, params["dev_share"], seed, params["max_utterances"]
    )
    backend = load_named_backend(backends, args.model, seed)
    aligned = Projector.load(args.aligned) if args.aligned else None
    place = params["place"] if args.split == "test" else []
    controls = conditions(
        params["noise_scales"],
        params["jitter_seconds"],
        params["negatives"],
        params["ruler"] if aligned is not None else None,
        place,
    )
    table, rejected = validate_corpus(
        backend,
        utterances,
        task=task_of(args.corpus.name, backends["tasks"]),
        prompts=backends["prompts"],
        conditions=controls,
        normalisations=params["normalisations"],
        components=params["components"],
        seed=seed,
        aligned=aligned,
        placed=placed_backends(backends, args.model, place, seed),
    )
    sep = separation(table)
    dev = json.loads(args.selection.read_text()) if args.selection else None
    summary = {
        "model": args.model,
        "corpus": args.corpus.name,
        "split": args.split,
        "seed": seed,
        "lower_is_better": True,
        "reference": "oracle (the corpus's exact word times)",
        "frame_seconds": backend.frame_seconds,
        "offset_seconds": backend.offset_seconds,
        "utterances": sorted(table["utterance"].unique().tolist()),
        "rejected": rejected,
        "conditions": [c.__dict__ for c in controls],
        "normalisations": params["normalisations"],
        "components": params["components"],
        **split_summary(table, sep, dev, params["oracle_tolerance"]),
        "ranking": ranking(sep).to_dict(orient="records"),
    }
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    write_text(args.separation, sep.to_csv(index=False))
    write_json(args.summary, summary)
    log.info("%s on %s (%s): selected %s", args.model, args.corpus.name, args.split, summary["selection"])
    if not summary["timing"]["ok"]:
        timing = summary["timing"]
        raise UserFacingError(
            f"the oracle's layer-0 ALAS is {timing['oracle_layer0_alas_tokens']:.2f} tokens (tolerance"
            f" {timing['tolerance']}): the backend's frame_seconds ({backend.frame_seconds}) or"
            f" offset_seconds ({backend.offset_seconds}) disagree with its encoder's geometry"
        )
