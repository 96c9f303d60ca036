"""Extraction (one prefill with every layer, kept on the span) against a bare forward of the same LM.

    .venv/bin/python benchmarks/bench_extraction.py [--seconds 20] [--repeats 5]

Prints the median time of each and their ratio (target: at most 1.15x), and the size of what extraction
keeps per run. Real models: Whisper-base encoder, untrained projector, SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from speechalign.backends import load_backend
from speechalign.models import model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    spec = {
        "kind": "composed", "llm": model_path("smollm2-135m-instruct"), "encoder": "whisper-base",
        "projector": None, "projector_hidden": 1024, "stack": 4,
        "system_prompt": "You are a helpful assistant.", "layout": "{speech}\n{task}",
    }  # fmt: skip
    backend = load_backend(spec, seed=0)
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(int(args.seconds * 16000))).astype(np.float32)
    run = backend.audio_run(wave, "What is said? Answer in 10-15 words.")
    decoder = backend.llm.get_decoder()
    bare, extract = [], []
    with torch.no_grad():
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            t = time.perf_counter()
            decoder(inputs_embeds=run.payload["inputs_embeds"], use_cache=False)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            kept = backend.prefill(run)
            extract.append(time.perf_counter() - t)
    b, e = statistics.median(bare), statistics.median(extract)
    print(f"sequence {run.length} positions, audio span {run.span_length}, threads {torch.get_num_threads()}")
    print(
        f"bare forward {b * 1000:.1f} ms, extraction {e * 1000:.1f} ms, ratio {e / b:.3f}x (target <= 1.15x)"
    )
    print(f"kept per run: {tuple(kept.shape)} float32 = {kept.numel() * 4 / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
