"""``speechalign respond``: a speech LLM answers the audio prompt and the text prompt of every utterance
(greedy), and the Sentence-BERT agreement filter records each pair's similarity and decision.

    speechalign respond --model composed-untrained --corpus data/corpora/sqa \\
        --out results/responses/composed-untrained/sqa.parquet

The model is an entry of params ``backends.models``; the utterances, the threshold and the SBERT model come
from params ``alas`` and ``models.sbert`` (rules pass both sections as JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from speechalign.cli import add_params_option, stage_params

HELP = "answer the audio and text prompts; SBERT agreement filter"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a name in params backends.models")
    parser.add_argument("--corpus", required=True, type=Path, help="a corpus manifest folder")
    parser.add_argument("--out", required=True, type=Path, help="the responses table (.parquet)")
    add_params_option(parser, "backends")
    add_section_option(parser, "alas")
    parser.add_argument("--sbert", help="Sentence-BERT model reference (default: params models.sbert)")
    parser.add_argument("--seed", type=int, help="seed (default: params seed)")


def add_section_option(parser: argparse.ArgumentParser, section: str) -> None:
    parser.add_argument(
        f"--{section}-params",
        metavar="JSON",
        help=f"the '{section}' section of the resolved params as JSON (rules pass it); default: params.yaml",
    )


def section(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """A params section other than the stage's own: the JSON a rule passed, else params.yaml's."""
    given = getattr(args, f"{name}_params", None)
    if given:
        return json.loads(given)
    from speechalign.config import load_params

    return load_params(".")[name]


def top_level(args: argparse.Namespace, key: str):
    from speechalign.config import load_params

    value = getattr(args, key, None)
    return value if value is not None else load_params(".")[key]


def backend_spec(backends: dict[str, Any], model: str) -> dict[str, Any]:
    """A model's entry with the shared chat settings (system prompt, layout) filled in."""
    from speechalign.errors import UserFacingError

    if model not in backends["models"]:
        raise UserFacingError(
            f"unknown model {model!r}; params backends.models has {sorted(backends['models'])}"
        )
    return {"system_prompt": backends["system_prompt"], "layout": backends["layout"]} | backends["models"][
        model
    ]


def seeded_backend(args: argparse.Namespace, backends: dict[str, Any]):
    """The backend of ``--model`` (an entry of params ``backends.models``) built with the run's seed
    (``--seed``, else params ``seed``), torch seeded with it first; returns (backend, spec, seed)."""
    import torch

    from speechalign.backends import load_backend

    seed = top_level(args, "seed")
    torch.manual_seed(seed)
    spec = backend_spec(backends, args.model)
    return load_backend(spec, seed=seed), spec, seed


def run(args: argparse.Namespace) -> None:
    from sentence_transformers import SentenceTransformer

    from speechalign.io import atomic_path
    from speechalign.models import model_path
    from speechalign.respond import respond_corpus, select_utterances, task_of

    backends = stage_params(args, "backends")
    alas = section(args, "alas")
    sbert_ref = args.sbert or section(args, "models")["sbert"]
    utterances = select_utterances(args.corpus, alas["split"], alas["max_utterances"])
    task = task_of(args.corpus.name, backends["tasks"])
    backend, _, _ = seeded_backend(args, backends)  # after the cheap checks: a bad corpus fails fast
    sbert = SentenceTransformer(model_path(sbert_ref), device="cpu")
    table = respond_corpus(
        backend,
        utterances,
        task=task,
        prompts=backends["prompts"],
        sbert=sbert,
        threshold=alas["threshold"],
        max_new_tokens=backends["max_new_tokens"],
        batch_size=backends["batch_size"],
    )
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
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
