"""``speechalign evaluate``: systems answer the spoken benchmark; their answers are scored into AZEROS
Tables 3-7.

    # one system x seed (trained variants take --checkpoint; text, cascade and untrained do not)
    speechalign evaluate answer --system sift_s --seed 0 --items data/corpora/bench/items.jsonl \\
        --checkpoint data/sift/models/sift_s/seed0 --out results/evaluate/answers/sift_s/seed0.jsonl \\
        --cache data/cache/evaluate/sift_s/seed0.jsonl
    # several suites (params evaluate.suites): give every suite's items, to both actions
    speechalign evaluate answer --system text --seed 0 \\
        --items data/corpora/voicebench/items.jsonl data/corpora/airbench/items.jsonl --out ...
    # every system but text also scores text's answers (behaviour match): give them
    speechalign evaluate answer --system sift_s ... --references results/evaluate/answers/text/seed0.jsonl
    # every answer file -> scores, tables, behaviour metrics, paired comparisons, metrics
    speechalign evaluate score --items data/corpora/bench/items.jsonl \\
        --answers results/evaluate/answers/*/seed*.jsonl --scores results/evaluate/scores.parquet \\
        --tables results/evaluate/tables.csv --systems results/evaluate/systems.csv \\
        --behaviour results/evaluate/behaviour.parquet --behaviour-summary results/evaluate/behaviour.csv \\
        --comparisons results/evaluate/comparisons.csv --metrics results/evaluate/metrics.json

    # a pilot's behaviour rows -> how many items a study needs to resolve half the pilot's effect
    speechalign evaluate power --behaviour results/evaluate/behaviour.parquet \\
        --better sift_s --worse untrained

The report notebook (notebooks/evaluate.ipynb) renders the tables as results/tables/azeros_table{3..7}.*.
Params: the stage's own section ``evaluate`` (``--evaluate-params``), and ``backends``, ``train`` and
``models`` (``--backends-params`` etc.; rules pass each as JSON, else params.yaml is read).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechalign.params import add_section_options, section, top_level

HELP = "answer the spoken benchmark (one system x seed) or score every answer into the AZEROS tables"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="<action>")
    answer = sub.add_parser("answer", help="one system x seed answers every benchmark item")
    answer.add_argument(
        "--system", required=True, help="a variant of params train.run, text, cascade or untrained"
    )
    answer.add_argument(
        "--seed", required=True, type=int, help="training seed (untrained: initialisation seed)"
    )
    answer.add_argument(
        "--items",
        required=True,
        nargs="+",
        type=Path,
        help="items of every suite (data/corpora/<suite>/items.jsonl)",
    )
    answer.add_argument("--checkpoint", help="the variant's SIFT checkpoint folder (trained systems only)")
    answer.add_argument("--out", required=True, type=Path, help="answers (JSONL)")
    answer.add_argument("--cache", type=Path, help="resumable cache of finished answers (JSONL)")
    answer.add_argument(
        "--references", type=Path, help="the text system's answers: their NLL under this system (behaviour)"
    )
    score = sub.add_parser("score", help="score every answer file; write scores, tables and metrics")
    score.add_argument(
        "--items", required=True, nargs="+", type=Path, help="items of every suite the answers answered"
    )
    score.add_argument("--answers", required=True, nargs="+", type=Path, help="answer files")
    score.add_argument("--scores", required=True, type=Path, help="long-form scores (.parquet)")
    score.add_argument("--tables", required=True, type=Path, help="Tables 3-7 in long form (.csv)")
    score.add_argument("--systems", required=True, type=Path, help="every system's cells in long form (.csv)")
    score.add_argument("--behaviour", required=True, type=Path, help="behaviour metrics per item (.parquet)")
    score.add_argument(
        "--behaviour-summary", required=True, type=Path, help="behaviour metrics per system (.csv)"
    )
    score.add_argument("--comparisons", required=True, type=Path, help="paired comparisons of claims (.csv)")
    score.add_argument("--metrics", required=True, type=Path, help="DVC metrics (.json)")
    score.add_argument("--seed", type=int, help="seed of the bootstrap resampling (default: params seed)")
    power = sub.add_parser("power", help="size a study from a pilot's behaviour rows (items needed)")
    power.add_argument("--behaviour", required=True, type=Path, help="the pilot's behaviour.parquet")
    power.add_argument("--better", required=True, help="the system claimed better (e.g. sift_s)")
    power.add_argument("--worse", required=True, help="the system claimed worse (e.g. untrained)")
    power.add_argument(
        "--metric", default="nll", help="a behaviour metric (default: nll, the behaviour match)"
    )
    power.add_argument("--fraction", type=float, default=0.5, help="share of the pilot's effect to resolve")
    power.add_argument("--power", type=float, default=0.8, help="probability of resolving it")
    for p in (answer, score):
        add_section_options(p, "evaluate")
        for name in ("backends", "train", "models"):
            add_section_options(p, name)


def run(args: argparse.Namespace) -> None:
    {"answer": run_answer, "score": run_score, "power": run_power}[args.action](args)


def run_power(args: argparse.Namespace) -> None:
    import json

    import pandas as pd

    from speechalign.evaluate.findings import pilot_sizing

    rows = pd.read_parquet(args.behaviour)
    sizing = pilot_sizing(rows, args.better, args.worse, args.metric, args.fraction, args.power)
    print(json.dumps(sizing, indent=2))


def run_answer(args: argparse.Namespace) -> None:
    import torch

    from speechalign.backends import load_backend
    from speechalign.env import keep_freed_memory
    from speechalign.evaluate import systems as S
    from speechalign.evaluate.behaviour import nll_scorer
    from speechalign.metrics.bench.items import read_suites
    from speechalign.sift.targets import TargetCache

    params = section(args, "evaluate")
    backends, train, models = section(args, "backends"), section(args, "train"), section(args, "models")
    keep_freed_memory()  # batched generation's KV cache is otherwise page-faulted afresh at every step
    run = S.SystemRun(args.system, args.seed)
    torch.manual_seed(args.seed)
    items = [item for suite in read_suites(args.items).values() for item in suite]
    spec = S.backend_spec(run, args.checkpoint, models, backends, train)
    backend = load_backend(spec, seed=args.seed)
    asr = S.whisper_asr(models["whisper"], params["asr"]) if run.kind == S.CASCADE else None
    references = None
    if args.references:
        references = {a.item: a.answer for a in S.read_answers(args.references) if a.answer.strip()}
    configuration = S.configuration_key(
        spec, args.checkpoint, params["max_new_tokens"], params["asr"], references, params["control_items"]
    )
    answers = S.answer_items(
        run,
        items,
        backend,
        cache=TargetCache(args.cache) if args.cache else None,
        configuration=configuration,
        max_new_tokens=params["max_new_tokens"],
        batch_size=params["batch_size"],
        asr=asr,
        references=references,
        nll=nll_scorer(backend),
        control_items=params["control_items"],
    )
    S.write_answers(args.out, answers)
    rejected = sum(bool(a.reason) and a.applicable for a in answers)
    skipped = sum(not a.applicable for a in answers)
    log.info(
        "%s seed %d: %d answers (%d not answered, %d not applicable) -> %s",
        run.system,
        run.seed,
        len(answers),
        rejected,
        skipped,
        args.out,
    )


def run_score(args: argparse.Namespace) -> None:
    import pandas as pd

    from speechalign.evaluate import behaviour as B
    from speechalign.evaluate import findings as F
    from speechalign.evaluate import tables as T
    from speechalign.evaluate.answer_scores import asr_summary, score_answers
    from speechalign.evaluate.systems import read_answers
    from speechalign.io import atomic_path, write_json, write_text
    from speechalign.metrics.bench.items import read_suites
    from speechalign.metrics.bench.scorers import sbert_embedder
    from speechalign.models import model_path

    params = section(args, "evaluate")
    models = section(args, "models")
    suites = read_suites(args.items)
    items = [item for suite in suites.values() for item in suite]
    suite_of = {item.id: name for name, suite in suites.items() for item in suite}
    answers = [a for path in args.answers for a in read_answers(path)]
    needs_sbert = any(i.task == "agreement" for i in items) or any(a.system == "text" for a in answers)
    embed = sbert_embedder(model_path(models["sbert"])) if needs_sbert else None
    scores = score_answers(items, answers, embed, suite_of)
    scores = T.with_ifeval_counts(scores, T.ifeval_counts(items, answers))  # IFEval's four numbers
    with atomic_path(args.scores) as tmp:
        scores.to_parquet(tmp, index=False)
    systems_run = sorted({a.system for a in answers})
    seed = top_level(args, "seed")
    tables = T.build_tables(scores, systems_run, params["confidence"], params["bootstrap"], seed)
    write_text(args.tables, T.long_form(tables).to_csv(index=False))
    every = T.every_system(scores, params["confidence"], params["bootstrap"], seed)
    write_text(args.systems, every.to_csv(index=False))
    rows = B.behaviour_rows(items, answers, embed, params["repeat_threshold"])
    with atomic_path(args.behaviour) as tmp:
        rows.to_parquet(tmp, index=False)
    summary = B.summarise(rows, params["confidence"], params["bootstrap"], seed)
    write_text(args.behaviour_summary, summary.to_csv(index=False))
    interval = (params["confidence"], params["bootstrap"], seed)
    measurable = F.task_measurability(scores, items, *interval)
    comparisons = pd.concat([B.compare(rows, *interval), F.score_claims(scores, measurable, *interval)])
    write_text(args.comparisons, comparisons.to_csv(index=False))
    behaviour = {"behaviour": B.metrics(summary, comparisons), "measurable": F.measurable_metrics(measurable)}
    write_json(args.metrics, {**T.metrics(tables), "asr": asr_summary(answers), **behaviour})
    log.info(
        "scored %d answers of %d systems -> %s, %s", len(scores), len(systems_run), args.scores, args.tables
    )
