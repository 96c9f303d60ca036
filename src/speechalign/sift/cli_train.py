"""``speechalign train``: one SIFT variant (stage 1, stage 2 or an ablation) from cached features.

    speechalign train --variant sift_s --seed 0 --targets data/sift/targets \
        --features data/sift/features/sift --out data/sift/models/sift_s/seed0 \
        --curves results/train/sift_s/seed0 --state data/cache/sift/state/sift_s/seed0 \
        --llm smollm2-135m-instruct --encoder whisper-base
    speechalign train --variant sift_s+sift_sp --seed 0 --init data/sift/models/sift_s/seed0 ...   # stage 2
    # several processes, one per GPU (params train.device auto/cuda) or on the CPU (train.device cpu, or no
    # GPU: Accelerator(cpu=True) inside, which --multi_gpu needs there):
    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 -m speechalign.cli train ...
"""

from __future__ import annotations

import argparse

from speechalign.cli import add_params_option, stage_params

HELP = "train the projectors of one SIFT variant (accelerate; resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", required=True, help="a key of params train.variants")
    parser.add_argument(
        "--seed", type=int, default=None, help="training seed (default: the first of params train.seeds)"
    )
    parser.add_argument("--targets", required=True, help="folder of <mode>.jsonl targets")
    parser.add_argument("--features", required=True, help="cached features (shard folder or .safetensors)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--curves", required=True, help="folder for curve.tsv and metrics.json")
    parser.add_argument("--state", default=None, help="trainer state folder for resuming (kept across runs)")
    parser.add_argument("--init", default=None, help="stage-1 checkpoint the variant starts from")
    parser.add_argument("--llm", required=True, help="frozen LM reference")
    parser.add_argument("--encoder", required=True, help="Whisper reference (recorded in the checkpoint)")
    parser.add_argument("--device", help="override params train.device: auto, cpu or cuda")
    add_params_option(parser, "train")
    parser.add_argument("--backend-params", metavar="JSON", help="params `backends` as JSON (its layout)")


def run(args: argparse.Namespace) -> None:
    import json

    from speechalign.config import load_params
    from speechalign.sift.train import run_variant

    backends = json.loads(args.backend_params) if args.backend_params else load_params(".")["backends"]
    params = stage_params(args, "train")
    params = {**params, "device": args.device or params["device"]}
    seed = params["seeds"][0] if args.seed is None else args.seed
    run_variant(
        args.variant,
        {**params, "seed": seed, "layout": backends["layout"]},  # the backends' user-message layout
        args.targets,
        args.features,
        args.out,
        args.curves,
        llm_ref=args.llm,
        encoder_ref=args.encoder,
        init=args.init,
        state_dir=args.state,
    )
