"""``speechalign sift-eval``: a SIFT checkpoint (or its untrained control) on held-out spoken QA.

    speechalign sift-eval --untrained data/sift/models/sift_s/seed0 --seed 0 --manifest data/corpora/sqa \
        --out results/train/qa/untrained-semantic/seed0.json   # same architecture, initial weights
    speechalign sift-eval --checkpoint data/sift/models/sift_s/seed0 --manifest data/corpora/sqa \
        --control results/train/qa/untrained-semantic/seed0.json --out results/train/qa/sift_s/seed0.json
"""

from __future__ import annotations

import argparse

from speechalign.cli import add_params_option, stage_params

HELP = "score a trained (or untrained) SIFT model on held-out spoken QA"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a SIFT checkpoint folder")
    which.add_argument(
        "--untrained", help="a SIFT checkpoint whose architecture is rebuilt with initial weights"
    )
    parser.add_argument("--manifest", required=True, help="spoken QA corpus folder")
    parser.add_argument("--out", required=True, help="results json")
    parser.add_argument("--limit", type=int, default=None, help="at most N held-out items")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed of the untrained control")
    parser.add_argument(
        "--control", help="the untrained control's result json: adds the paired comparison (vs_untrained)"
    )
    parser.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu or cuda")
    add_params_option(parser, "backends")


def run(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    import torch

    from speechalign.backends import task_instruction
    from speechalign.backends.device import resolve_device
    from speechalign.data.manifest import read_manifest
    from speechalign.io import write_json
    from speechalign.sift import evaluate as E
    from speechalign.sift.features import load_whisper_encoder, read_wave
    from speechalign.sift.model import Projectors, SiftSpeechLLM, load_checkpoint, read_checkpoint_config
    from speechalign.sift.paralinguistic import whisper_layer_frames

    backends = stage_params(args, "backends")
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
    else:
        from speechalign.sift.model import load_frozen_llm

        config = read_checkpoint_config(args.untrained)
        llm, tokenizer = load_frozen_llm(config.llm)
        model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=args.seed))
    model = model.to(device)
    encoder, extractor = load_whisper_encoder(model.config.encoder, device)
    n_blocks = len(encoder.layers)
    para_layer = model.config.paralinguistic_layer or 0
    items = []
    for u in E.qa_utterances(read_manifest(args.manifest), args.limit):
        layers = whisper_layer_frames(encoder, extractor, read_wave(u.audio_path), [para_layer, n_blocks])
        prompt = task_instruction("sqa", backends["prompts"], question=u.question)
        sem, para = layers[n_blocks].clone(), layers[para_layer].clone()  # plain tensors, not inference ones
        items.append(E.QAItem(u.id, prompt, u.answer, u.text, sem, para))
    system = backends["system_prompt"]
    answers = E.text_run_answers(model, items, system, backends["max_new_tokens"])
    result = E.evaluate(model, items, system, answers, backends["max_new_tokens"])
    result["model"] = args.checkpoint or f"untrained:{args.untrained}"
    if args.control:
        control = json.loads(Path(args.control).read_text(encoding="utf-8"))
        result["vs_untrained"] = {
            "control": args.control,
            **E.paired_comparison(result["rows"], control["rows"]),
        }
    write_json(args.out, result)
