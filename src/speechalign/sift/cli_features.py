"""``speechalign features``: frozen Whisper features (semantic + paralinguistic layer) of a corpus, cached.

    speechalign features --manifest data/corpora/sift --encoder whisper-base \
        --out data/sift/features/sift     # a folder of shards of train.feature_shard_size utterances
"""

from __future__ import annotations

import argparse

from speechalign.cli import add_params_option, stage_params

HELP = "cache the frozen encoder features of a corpus (safetensors shards)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="corpus folder")
    parser.add_argument("--encoder", required=True, help="Whisper model reference")
    parser.add_argument("--out", required=True, help="features folder (shards + index.json)")
    add_params_option(parser, "train")


def run(args: argparse.Namespace) -> None:
    import torch

    from speechalign.backends.device import resolve_device
    from speechalign.data.manifest import read_manifest
    from speechalign.sift.features import load_whisper_encoder, write_sharded_features

    params = stage_params(args, "train")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    encoder, extractor = load_whisper_encoder(args.encoder, resolve_device(params["device"]))
    write_sharded_features(
        read_manifest(args.manifest),
        encoder,
        extractor,
        params["paralinguistic_layer"],
        args.encoder,
        args.out,
        params["feature_shard_size"],
    )
