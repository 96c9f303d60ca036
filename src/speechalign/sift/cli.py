"""``speechalign sift``: what the projectors are trained on, in three steps.

``targets``: the frozen LLM writes one mode's SIFT targets for a corpus (resumable).

    speechalign sift targets --manifest data/corpora/sift --mode sift_s --out data/sift/targets/sift_s.jsonl \
        --cache data/cache/sift/targets.jsonl --llm smollm2-135m-instruct

Under ``accelerate launch --num_processes N`` (params ``sift.processes``) each process loads the LLM on its
own GPU (or CPU) and writes every N-th item into its own cache shard; the first process then merges the
shards and writes the targets file: the same targets as one process (greedy decoding, per-item prompts).

``features``: frozen Whisper features (semantic + paralinguistic layer) of a corpus, cached.

    speechalign sift features --manifest data/corpora/sift --encoder whisper-base \
        --out data/sift/features/sift     # a folder of shards of train.feature_shard_size utterances

``probe``: which paralinguistic encoder carries speaker and prosody information best: every Whisper layer,
pitch/energy statistics and (with its weights) Resemblyzer, by nearest-centroid and linear-probe accuracy of
gender and prosody style on the corpus's speaker-disjoint test voices.

    speechalign sift probe --manifest data/corpora/paralinguistic --encoder whisper-base \
        --out results/sift/paralinguistic_probe.json [--resemblyzer-weights data/models/resemblyzer]
"""

from __future__ import annotations

import argparse

from speechalign.params import add_section_options, section

HELP = "SIFT targets per mode (targets), cached encoder features (features), paralinguistic probe (probe)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="action", required=True)
    targets = steps.add_parser("targets", help="self-generated targets for one mode (tsit_s ... sift_ssp)")
    targets.add_argument("--manifest", required=True, help="corpus folder (speechalign.data manifest)")
    targets.add_argument("--mode", required=True, help="AZEROS data mode")
    targets.add_argument("--out", required=True, help="targets jsonl")
    targets.add_argument(
        "--cache", required=True, help="resumable cache (append-only jsonl), kept across runs"
    )
    targets.add_argument("--llm", required=True, help="target writer: lock entry, folder or hub id")
    add_section_options(targets, "sift", "backends")  # backends: its system_prompt

    features = steps.add_parser("features", help="cache the frozen encoder features of a corpus (shards)")
    features.add_argument("--manifest", required=True, help="corpus folder")
    features.add_argument("--encoder", required=True, help="Whisper model reference")
    features.add_argument("--out", required=True, help="features folder (shards + index.json)")
    add_section_options(features, "train")

    probe = steps.add_parser("probe", help="probe paralinguistic encoder candidates (speaker-disjoint)")
    probe.add_argument("--manifest", required=True, help="the paralinguistic corpus folder")
    probe.add_argument("--encoder", required=True, help="Whisper model reference")
    probe.add_argument("--out", required=True, help="results json (a .tsv is written beside it)")
    probe.add_argument(
        "--resemblyzer-weights",
        default=None,
        help="the provisioned Resemblyzer folder (models.lock.yaml entry resemblyzer) or its pretrained.pt",
    )


def run(args: argparse.Namespace) -> None:
    {"targets": run_targets, "features": run_features, "probe": run_probe}[args.action](args)


def run_targets(args: argparse.Namespace) -> None:
    import json
    import logging

    import torch

    from speechalign.data.manifest import read_manifest
    from speechalign.models import model_path
    from speechalign.sift import targets as T

    params = section(args, "sift")
    backends = section(args, "backends")
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
    is alone (docs/facts.md#accelerate-on-the-cpu)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    from speechalign.backends.device import resolve_device

    return PartialState(cpu=resolve_device(device).type == "cpu")


def run_features(args: argparse.Namespace) -> None:
    import torch

    from speechalign.backends.device import resolve_device
    from speechalign.data.manifest import read_manifest
    from speechalign.sift.features import load_whisper_encoder, write_sharded_features

    params = section(args, "train")
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


def run_probe(args: argparse.Namespace) -> None:
    from dataclasses import asdict
    from pathlib import Path

    import numpy as np

    from speechalign.data.manifest import read_manifest
    from speechalign.io import write_json, write_text
    from speechalign.sift import paralinguistic as P
    from speechalign.sift.features import load_whisper_encoder, read_wave

    utterances = read_manifest(args.manifest)
    waves = [read_wave(u.audio_path) for u in utterances]
    encoder, extractor = load_whisper_encoder(args.encoder)
    layers = list(range(len(encoder.layers) + 1))
    per_clip = [P.whisper_layer_frames(encoder, extractor, w, layers) for w in waves]
    vectors = {f"whisper-L{k}": np.stack([c[k].mean(0).numpy() for c in per_clip]) for k in layers}
    vectors["pitch-stats"] = np.stack([P.pitch_stats(w) for w in waves])
    if args.resemblyzer_weights:
        lstm = P.SpeakerLSTM.from_resemblyzer_weights(args.resemblyzer_weights)
        vectors["resemblyzer"] = P.utterance_vectors(lambda w: P.resemblyzer_partials(lstm, w).numpy(), waves)
    results = P.probe_candidates(utterances, vectors)
    rows = [asdict(r) for r in results]
    write_json(args.out, {"choice": P.choose(results), "results": rows})
    header = list(rows[0])
    lines = ["\t".join(header)] + ["\t".join(str(r[h]) for h in header) for r in rows]
    write_text(Path(args.out).with_suffix(".tsv"), "\n".join(lines) + "\n")
