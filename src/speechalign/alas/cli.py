"""``speechalign alas``: the ALAS stage for one speech LLM on one corpus, in two steps (``measure``: both in
one process, the model loaded once: what the workflow runs).

``respond``: the model answers the audio prompt and the text prompt of every utterance (greedy); the
Sentence-BERT agreement filter records each pair's similarity and decision.

    speechalign alas respond --model composed-untrained --corpus data/corpora/sqa \\
        --out results/responses/composed-untrained/sqa.parquet

``score``: ALAS per utterance and layer with the filter's decision per utterance, a summary with bootstrap
intervals, and the paths of a few utterances.

    speechalign alas score --model composed-untrained --corpus data/corpora/sqa \\
        --responses results/responses/composed-untrained/sqa.parquet \\
        --out results/alas/composed-untrained/sqa.parquet \\
        --summary results/alas/composed-untrained/sqa.json \\
        --examples results/alas/composed-untrained/sqa.examples.npz

``measure``: ``respond`` then ``score``; the responses table is written to ``--responses``.

    speechalign alas measure --model composed-untrained --corpus data/corpora/sqa \\
        --responses results/responses/composed-untrained/sqa.parquet \\
        --out results/alas/composed-untrained/sqa.parquet \\
        --summary results/alas/composed-untrained/sqa.json

``run``: ALAS of any model on your own recordings, no corpus or responses file (``speechalign.alas.run``).

    speechalign alas run --model composed-untrained --audio a.wav b.wav --text "One." "Two." --out alas-run

The model is an entry of params ``backends.models``; the utterances, threshold and scoring settings come from
params ``alas``, the SBERT model from ``models.sbert``. Outputs of ``score``: the tidy table (one row per
utterance and layer; columns in ``speechalign.alas.measure.TABLE_COLUMNS``), the summary JSON (pooled ALAS per
layer, lower is better, with bootstrap intervals, for the kept pairs and for all; the filter's counts;
rejections with reasons) and an npz of MAS, reference and uniform paths.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechalign.params import add_section_options, section, top_level

HELP = "responses + SBERT filter (respond), ALAS per utterance and layer (score), both (measure)"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="action", required=True)
    respond = steps.add_parser("respond", help="answer the audio and text prompts; SBERT agreement filter")
    score = steps.add_parser("score", help="ALAS per utterance and layer, table + summary")
    measure = steps.add_parser("measure", help="respond, then score, the model loaded once")
    run_ = steps.add_parser("run", help="ALAS of any model on your own wav files + transcripts (alas/run.py)")
    for p in (respond, score, measure):
        p.add_argument("--model", required=True, help="a name in params backends.models")
        p.add_argument("--corpus", required=True, type=Path, help="a corpus manifest folder")
        p.add_argument("--seed", type=int, help="seed (default: params seed)")
        add_section_options(p, "alas", "backends")
    respond.add_argument("--out", required=True, type=Path, help="the responses table (.parquet)")
    for p in (respond, measure):
        p.add_argument("--sbert", help="Sentence-BERT model reference (default: params models.sbert)")
        p.add_argument(
            "--cache",
            type=Path,
            help="earlier responses tables, by what makes them (model, weights, prompts, utterances, SBERT,"
            " threshold, seed): a table found in this folder is reused, not generated again",
        )
        add_section_options(p, "models")
    score.add_argument("--responses", required=True, type=Path, help="`speechalign alas respond`'s table")
    measure.add_argument("--responses", required=True, type=Path, help="the responses table it writes")
    for p in (score, measure):
        add_score_arguments(p)
    from speechalign.alas.run import add_run_arguments  # light: heavy imports wait for the action

    add_run_arguments(run_)


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="the ALAS table (.parquet)")
    parser.add_argument("--summary", required=True, type=Path, help="the summary (.json)")
    parser.add_argument("--examples", type=Path, help="paths of the first utterances (.npz)")
    parser.add_argument(
        "--selection",
        type=Path,
        help="the validity stage's dev summary (results/validity/<model>/<corpus>/dev.json) whose selected"
        " normalisation is the headline when params alas.normalisation is 'selected'",
    )
    add_section_options(parser, "validity")
    parser.add_argument(
        "--reference",
        type=Path,
        help="the reference stage's word times (data/reference/<aligner>/<corpus>.jsonl.gz);"
        " default: the corpus's own exact times (oracle)",
    )


def run(args: argparse.Namespace) -> None:
    if args.action == "run":
        from speechalign.alas.run import run_cli

        return run_cli(args)
    {"respond": run_respond, "score": run_score, "measure": run_measure}[args.action](args)


def run_respond(args: argparse.Namespace) -> None:
    utterances = corpus_utterances(args)  # before the model loads: a bad corpus fails fast
    table = cached_responses(args, utterances, lambda: respond(args, load_model(args), utterances))
    write_responses(table, args.out)


def run_score(args: argparse.Namespace) -> None:
    import pandas as pd

    headline, utterances = headline_of(args), corpus_utterances(args)
    responses = pd.read_parquet(args.responses)
    score(args, load_model(args), utterances, responses, headline)


def run_measure(args: argparse.Namespace) -> None:
    import pandas as pd

    headline, utterances = headline_of(args), corpus_utterances(args)
    backend = load_model(args)
    table = cached_responses(args, utterances, lambda: respond(args, backend, utterances))
    write_responses(table, args.responses)
    score(args, backend, utterances, pd.read_parquet(args.responses), headline)  # as `score` would read it


def load_model(args: argparse.Namespace):
    from speechalign.backends import load_named_backend

    return load_named_backend(section(args, "backends"), args.model, top_level(args, "seed"))


def corpus_utterances(args: argparse.Namespace) -> list:
    """The utterances both steps work on (params alas split and max_utterances), read once per job."""
    from speechalign.alas.respond import task_of
    from speechalign.data.manifest import select_utterances

    alas = section(args, "alas")
    task_of(args.corpus.name, section(args, "backends")["tasks"])  # a corpus without a task fails here
    return select_utterances(args.corpus, alas["split"], alas["max_utterances"])


def respond(args: argparse.Namespace, backend, utterances: list):
    """The responses table: answers to both prompts and the SBERT filter's decision per utterance."""
    from sentence_transformers import SentenceTransformer

    from speechalign.alas.respond import respond_corpus, task_of
    from speechalign.models import model_path

    backends = section(args, "backends")
    alas = section(args, "alas")
    sbert = SentenceTransformer(model_path(args.sbert or section(args, "models")["sbert"]), device="cpu")
    table = respond_corpus(
        backend,
        utterances,
        task=task_of(args.corpus.name, backends["tasks"]),
        prompts=backends["prompts"],
        sbert=sbert,
        threshold=alas["threshold"],
        max_new_tokens=backends["max_new_tokens"],
        batch_size=backends["batch_size"],
    )
    ok = table[table["status"] == "ok"]
    log.info(
        "%s on %s: %d utterances, %d answered, %d kept (threshold %.2f), mean similarity %.3f",
        args.model,
        args.corpus.name,
        len(table),
        len(ok),
        int(ok["kept"].sum()),
        alas["threshold"],
        ok["similarity"].mean() if len(ok) else float("nan"),
    )
    return table


RESPONSES_FORMAT = 1  # bump when the responses table's columns change: older cached tables then miss


def responses_key(args: argparse.Namespace, utterances: list) -> str:
    """Everything that makes the responses table, hashed: the model's params entry and projector weights, the
    prompts and decoding settings, the SBERT model and threshold, the seed and the utterances."""
    import hashlib
    import json

    from speechalign.backends import backend_spec
    from speechalign.io import folder_digest

    backends = section(args, "backends")
    spec = backend_spec(backends, args.model)
    projector = spec.get("projector")
    weights = folder_digest(projector) if projector and Path(projector).is_dir() else ""
    decoding = {k: backends[k] for k in ("prompts", "tasks", "max_new_tokens", "batch_size")}
    sbert = args.sbert or section(args, "models")["sbert"]
    items = [[u.id, u.audio_path, u.num_samples, u.speaker, u.text, u.question] for u in utterances]
    threshold, seed = section(args, "alas")["threshold"], top_level(args, "seed")
    blob = [spec, weights, decoding, sbert, threshold, seed, items, RESPONSES_FORMAT]
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_responses(args: argparse.Namespace, utterances: list, make):
    """``make()``'s responses table, or the one ``--cache`` holds under the same key (the workflow's outputs
    are deleted before a job reruns: a change on the scoring side alone then answers nothing again)."""
    import pandas as pd

    if args.cache is None:
        return make()
    path = args.cache / f"{responses_key(args, utterances)}.parquet"
    if path.is_file():
        log.info("%s on %s: responses from %s", args.model, args.corpus.name, path)
        return pd.read_parquet(path)
    table = make()
    write_responses(table, path)
    return table


def write_responses(table, path: Path) -> None:
    from speechalign.io import atomic_path

    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


PAPER_NORMALISATION = "cosine"  # the ALAS paper's raw cosine: always scored beside the headline


def headline_normalisation(setting: str, selection: Path | None) -> tuple[str, str]:
    """The headline normalisation and what chose it: params ``alas.normalisation`` names one, or is
    ``selected`` (the validity stage's choice on the dev split, read from ``selection``)."""
    import json

    from speechalign.errors import UserFacingError

    if setting != "selected":
        return setting, "params alas.normalisation"
    if selection is None:
        raise UserFacingError("alas.normalisation is 'selected': pass --selection (the validity dev summary)")
    chosen = json.loads(selection.read_text())["selection"]
    return chosen["normalisation"], f"validity on the dev split ({selection})"


def headline_of(args: argparse.Namespace) -> tuple[str, str]:
    return headline_normalisation(section(args, "alas")["normalisation"], args.selection)


def score(args: argparse.Namespace, backend, utterances: list, responses, headline: tuple[str, str]) -> None:
    """ALAS per utterance and layer of the responses' pairs under the ``headline`` normalisation (and what
    chose it) and the paper's: the table, the summary and the examples."""
    import numpy as np

    from speechalign.alas.measure import score_corpus, summarise
    from speechalign.alas.respond import task_of
    from speechalign.io import atomic_path, write_json

    params = section(args, "alas")
    backends = section(args, "backends")
    records, aligner = None, "oracle"
    if args.reference:
        from speechalign.reference import read_reference

        records = read_reference(args.reference)
        aligner = args.reference.parent.name  # data/reference/<aligner>/<corpus>.jsonl.gz
    seed = top_level(args, "seed")
    headline, selected_by = headline
    table, rejected, examples = score_corpus(
        backend,
        utterances,
        responses,
        task=task_of(args.corpus.name, backends["tasks"]),
        prompts=backends["prompts"],
        normalisations=[headline, PAPER_NORMALISATION],
        reference=aligner,
        n_examples=params["examples"],
        reference_records=records,
        components=section(args, "validity")["components"],
    )
    info = {
        "model": args.model,
        "corpus": args.corpus.name,
        "seed": seed,
        "selected_by": selected_by,
        "paper_normalisation": PAPER_NORMALISATION,
        "reference": aligner,
        "threshold": params["threshold"],
        "frame_seconds": backend.frame_seconds,
        "offset_seconds": backend.offset_seconds,
        "hidden_states": backend.num_hidden_states,
    }
    summary = summarise(table, responses, rejected, info, params["bootstrap"], seed, headline=headline)
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
