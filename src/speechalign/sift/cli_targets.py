"""``speechalign sift-targets``: the frozen LLM writes one mode's SIFT targets for a corpus (resumable).

    speechalign sift-targets --manifest data/corpora/sift --mode sift_s --out data/sift/targets/sift_s.jsonl \
        --cache data/cache/sift/targets.jsonl --llm smollm2-135m-instruct

Under ``accelerate launch --num_processes N`` (params ``sift.processes``) each process loads the LLM on its
own GPU (or CPU) and writes every N-th item into its own cache shard; the first process then merges the
shards and writes the targets file: the same targets as one process (greedy decoding, per-item prompts).
"""

from __future__ import annotations

import argparse

from speechalign.cli import add_params_option, stage_params

HELP = "self-generated SIFT targets for one mode (tsit_s, sit_s, sift_s, sit_sp, sift_sp, sit_ssp, sift_ssp)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="corpus folder (speechalign.data manifest)")
    parser.add_argument("--mode", required=True, help="AZEROS data mode")
    parser.add_argument("--out", required=True, help="targets jsonl")
    parser.add_argument(
        "--cache", required=True, help="resumable cache (append-only jsonl), kept across runs"
    )
    parser.add_argument("--llm", required=True, help="target writer: lock entry, folder or hub id")
    add_params_option(parser, "sift")
    parser.add_argument(
        "--backend-params", metavar="JSON", help="params `backends` as JSON (its system_prompt)"
    )


def run(args: argparse.Namespace) -> None:
    import json
    import logging

    import torch

    from speechalign.config import load_params
    from speechalign.data.manifest import read_manifest
    from speechalign.models import model_path
    from speechalign.sift import targets as T

    params = stage_params(args, "sift")
    backends = json.loads(args.backend_params) if args.backend_params else load_params(".")["backends"]
    params = {**params, "system_prompt": backends["system_prompt"]}  # the one chat decision, shared
    spec = T.mode_spec(args.mode)
    utterances = T.select_utterances(read_manifest(args.manifest), params["limit"], params["limit_heldout"])
    state = launched_state(params["device"])
    writer, model_id = None, "none"
    if spec.generated:
        folder = model_path(args.llm)

        def load_writer():  # only when some target is not cached yet
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from speechalign.backends.device import resolve_device

            torch.manual_seed(params["seed"])
            device = state.device if state else resolve_device(params["device"])
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval().to(device)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            return T.llm_writer(model, tokenizer, params["max_new_tokens"], params["batch_size"])

        writer, model_id = T.lazy_writer(load_writer), T.writer_id(args.llm, folder)
    if state:
        rank, processes = state.process_index, state.num_processes
        own = T.TargetCache(T.shard_cache_path(args.cache, rank, processes), read_also=[args.cache])
        T.generate_shard(utterances, args.mode, params, writer, model_id, own, rank, processes)
        state.wait_for_everyone()
        if not state.is_main_process:
            return
    targets = T.make_targets(utterances, args.mode, params, writer, model_id, T.merged_cache(args.cache))
    T.write_targets(args.out, targets)
    logging.getLogger(__name__).info("%s: %s", args.mode, json.dumps(T.summary(targets)))


def launched_state(device: str):
    """accelerate's process state when launched as one of several processes (``WORLD_SIZE`` > 1), else None.
    On the CPU it must be told so: otherwise every process of `accelerate launch --multi_gpu` would think it
    is alone (RESEARCH.md 3)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    from speechalign.backends.device import resolve_device

    return PartialState(cpu=resolve_device(device).type == "cpu")
