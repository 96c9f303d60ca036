"""Benchmark of the reference aligners: audio seconds aligned per wall second, on this machine, all in one
process, against the default reference (whisper-timestamped) as the named baseline.

Usage (from the repository root; needs the provisioned Whisper models):

    .venv/bin/python benchmarks/bench_reference.py
    .venv/bin/python benchmarks/bench_reference.py --whisper whisper-tiny-en --clips 6 --threads 2
    .venv/bin/python benchmarks/bench_reference.py --corpus data/corpora/sqa --clips 4

Without --corpus the clips are synthesised SQA passages (espeak-ng, a few voices, 10-40 s). Each aligner
first aligns one clip untimed (model loading, caches), then every clip once; the script prints audio
seconds per wall second and the speed ratio to the baseline (above 1: faster than whisper-timestamped).
Other processes on the cores slow every aligner: the load average is printed; compare runs at low load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from speechalign.reference.aligners import ALIGNERS, AlignerSettings, align

BASELINE = "whisper-timestamped"


def synthesised_clips(count: int, seed: int) -> list[tuple[np.ndarray, str]]:
    import random

    from speechalign.audio import resample
    from speechalign.data.espeak import synthesize
    from speechalign.data.sqa import make_item
    from speechalign.text import natural_sentences

    rng = random.Random(seed)
    fillers = natural_sentences(5, 14)
    voices = ["en-us+klatt4", "en-us+f3", "en-us+m3", "en-us+klatt2"]
    clips = []
    for k in range(count):
        item = make_item(rng, fillers, rng.randint(30, 90))
        s = synthesize(item.passage, voices[k % len(voices)])
        clips.append((resample(s.audio, s.sample_rate, 16000), item.passage))
    return clips


def corpus_clips(folder: str, count: int) -> list[tuple[np.ndarray, str]]:
    import soundfile as sf

    from speechalign.data.manifest import read_manifest

    utts = sorted(read_manifest(folder), key=lambda u: u.id)[:count]
    return [(sf.read(u.audio_path, dtype="float32")[0], u.text) for u in utts]


def audio_per_wall_second(aligner: str, clips, settings: AlignerSettings) -> float:
    align(aligner, clips[0][0], 16000, clips[0][1], settings)  # warm-up: loads the model
    start = time.perf_counter()
    for audio, text in clips:
        align(aligner, audio, 16000, text, settings)
    wall = time.perf_counter() - start
    return sum(len(a) for a, _ in clips) / 16000 / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--whisper", default="whisper-base")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--corpus", help="a corpus manifest folder instead of synthesised passages")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--aligners", nargs="+", default=list(ALIGNERS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    clips = corpus_clips(args.corpus, args.clips) if args.corpus else synthesised_clips(args.clips, args.seed)
    seconds = sum(len(a) for a, _ in clips) / 16000
    print(f"{len(clips)} clips, {seconds:.1f} s of audio; whisper={args.whisper}, threads={args.threads}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    settings = AlignerSettings(whisper=args.whisper, threads=args.threads)
    speeds = {a: audio_per_wall_second(a, clips, settings) for a in args.aligners}
    base = speeds.get(BASELINE)
    print(f"{'aligner':<22}{'audio s / wall s':>18}{'vs ' + BASELINE:>28}")
    for aligner, speed in speeds.items():
        ratio = f"{speed / base:.2f}x" if base else "-"
        print(f"{aligner:<22}{speed:>18.2f}{ratio:>28}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
