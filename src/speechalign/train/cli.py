"""``speechalign train``: train one SIFT variant, and check a trained model on held-out spoken QA.

``fit``: one variant (stage 1, stage 2 or an ablation) from cached features (resumable).

    speechalign train fit --variant sift_s --seed 0 --targets data/sift/targets \\
        --features data/sift/features/sift --out data/sift/models/sift_s/seed0 \\
        --curves results/train/sift_s/seed0 --state data/cache/sift/state/sift_s/seed0 \\
        --llm smollm2-135m-instruct --encoder whisper-base
    speechalign train fit --variant sift_s+sift_sp --seed 0 --init data/sift/models/sift_s/seed0 ...  # 2

    # several processes, one per GPU (params train.device auto/cuda) or on the CPU (train.device cpu, or no
    # GPU: Accelerator(cpu=True) inside, which --multi_gpu needs there):
    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 -m speechalign.cli train fit ...

``spoken-qa``: a checkpoint (or its untrained control) on held-out spoken QA, paired with the control.

    speechalign train spoken-qa --untrained data/sift/models/sift_s/seed0 --seed 0 \\
        --manifest data/corpora/sqa --out results/train/qa/untrained-semantic/seed0.json
    speechalign train spoken-qa --checkpoint data/sift/models/sift_s/seed0 --manifest data/corpora/sqa \\
        --control results/train/qa/untrained-semantic/seed0.json --out results/train/qa/sift_s/seed0.json
"""

from __future__ import annotations

import argparse

from speechalign.params import add_section_options, section

HELP = "train one SIFT variant (fit); score a checkpoint on held-out spoken QA (spoken-qa)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="action", required=True)
    fit = steps.add_parser("fit", help="train the projectors of one SIFT variant (accelerate; resumable)")
    fit.add_argument("--variant", required=True, help="a key of params train.variants")
    fit.add_argument("--seed", type=int, help="training seed (default: the first of params train.seeds)")
    fit.add_argument("--targets", required=True, help="folder of <mode>.jsonl targets")
    fit.add_argument("--features", required=True, help="cached features (shard folder or .safetensors)")
    fit.add_argument("--out", required=True, help="checkpoint folder to write")
    fit.add_argument("--curves", required=True, help="folder for curve.tsv and metrics.json")
    fit.add_argument("--state", help="trainer state folder for resuming (kept across runs)")
    fit.add_argument("--init", help="stage-1 checkpoint the variant starts from")
    fit.add_argument("--llm", required=True, help="frozen LM reference")
    fit.add_argument("--encoder", required=True, help="Whisper reference (recorded in the checkpoint)")
    fit.add_argument("--device", help="override params train.device: auto, cpu or cuda")
    fit.add_argument("--live", choices=["dvclive", "none"], help="live curves (default: params train.live)")
    add_section_options(fit, "train", "backends")  # backends: its user-message layout

    qa = steps.add_parser("spoken-qa", help="score a trained (or untrained) model on held-out spoken QA")
    which = qa.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a SIFT checkpoint folder")
    which.add_argument(
        "--untrained", help="a SIFT checkpoint whose architecture is rebuilt with initial weights"
    )
    qa.add_argument("--manifest", required=True, help="spoken QA corpus folder")
    qa.add_argument("--out", required=True, help="results json")
    qa.add_argument("--limit", type=int, help="at most N held-out items")
    qa.add_argument("--seed", type=int, default=0, help="initialisation seed of the untrained control")
    qa.add_argument("--control", help="the untrained control's result json: adds the paired comparison")
    qa.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu or cuda")
    add_section_options(qa, "backends", "evaluate")  # evaluate: confidence and bootstrap of the comparison


def run(args: argparse.Namespace) -> None:
    {"fit": run_fit, "spoken-qa": run_spoken_qa}[args.action](args)


def run_fit(args: argparse.Namespace) -> None:
    from speechalign.train.fit import run_variant

    backends = section(args, "backends")
    params = section(args, "train")
    params = {**params, "device": args.device or params["device"]}
    live = args.live or params.pop("live", "none")  # how to log, not how to train: kept out of the run's hash
    seed = params["seeds"][0] if args.seed is None else args.seed
    run_variant(
        args.variant,
        # the backends' chat settings: inference renders the same speech prompt
        {**params, "seed": seed, "layout": backends["layout"], "system_prompt": backends["system_prompt"]},
        args.targets,
        args.features,
        args.out,
        args.curves,
        llm_ref=args.llm,
        encoder_ref=args.encoder,
        init=args.init,
        state_dir=args.state,
        live=live,
    )


def run_spoken_qa(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    import torch

    from speechalign.backends import task_instruction
    from speechalign.backends.checkpoint import Projectors, read_checkpoint_config
    from speechalign.backends.device import resolve_device
    from speechalign.data.manifest import read_manifest
    from speechalign.io import write_json
    from speechalign.sift.features import load_whisper_encoder, read_wave
    from speechalign.sift.paralinguistic import whisper_layer_frames
    from speechalign.train import spoken_qa as E
    from speechalign.train.model import SiftSpeechLLM, load_checkpoint, load_frozen_llm

    backends = section(args, "backends")
    intervals = section(args, "evaluate")
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
    else:
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
    system, max_new_tokens = backends["system_prompt"], backends["max_new_tokens"]
    control = json.loads(Path(args.control).read_text(encoding="utf-8")) if args.control else {}
    reused = E.reused_text_run(control, E.text_run_key(model, items, system, max_new_tokens))
    answers, text_nlls = reused or E.text_run(model, items, system, max_new_tokens)
    result = E.score_model(model, items, system, answers, max_new_tokens, text_nlls)
    result["model"] = args.checkpoint or f"untrained:{args.untrained}"
    result["text_run_from"] = args.control if reused else None
    if args.control:
        result["vs_untrained"] = {
            "control": args.control,
            **E.compare_with_control(
                result["rows"], control["rows"], intervals["confidence"], intervals["bootstrap"]
            ),
        }
    write_json(args.out, result)
