"""``speechalign sift-probe``: which paralinguistic encoder carries speaker and prosody information best.

    speechalign sift-probe --manifest data/corpora/paralinguistic --encoder whisper-base \
        --out results/sift/paralinguistic_probe.json [--resemblyzer-weights data/models/resemblyzer]

Scores every Whisper layer, pitch/energy statistics and (with its weights) Resemblyzer by nearest-centroid
and linear-probe accuracy of gender and prosody style on the corpus's speaker-disjoint test voices.
"""

from __future__ import annotations

import argparse

HELP = "probe paralinguistic encoder candidates (gender, prosody style; speaker-disjoint)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="the paralinguistic corpus folder")
    parser.add_argument("--encoder", required=True, help="Whisper model reference")
    parser.add_argument("--out", required=True, help="results json (a .tsv is written beside it)")
    parser.add_argument(
        "--resemblyzer-weights",
        default=None,
        help="the provisioned Resemblyzer folder (models.lock.yaml entry resemblyzer) or its pretrained.pt",
    )


def run(args: argparse.Namespace) -> None:
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
