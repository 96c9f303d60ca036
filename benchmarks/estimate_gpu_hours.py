"""GPU hours of the paper profile per stage, from per-item costs measured in a quick run and model FLOPs.

    python benchmarks/estimate_gpu_hours.py --run .            # a folder where the quick profile has run
    python benchmarks/estimate_gpu_hours.py --run . --peak-tflops 989 --bandwidth-gbs 3350   # H100 SXM

Method. For every stage the quick run's benchmark files (logs/bench/<stage>/...tsv) and its outputs give
items, and wall and CPU seconds per item on this machine. An item's FLOPs are 2 * params * tokens for a
forward pass and 6 * params * tokens for a training step (the usual rule; projector-only training with a
frozen LM needs about 4: the LM's weight gradients are never computed, so training is an upper bound).
The quick item's FLOPs per CPU second, next to one core's measured matmul throughput, show how close these
small CPU jobs come to matmul speed (model loading and small batches cost the rest). The paper item's
FLOPs use the 7B models and the paper's token counts; GPU seconds are the larger of the compute time at the
assumed sustained throughput (default 40% of an A100's 312 TFLOP/s bf16 peak) and, for greedy decoding,
the time to stream the weights once per decoding step of a batch (small batches are bandwidth-bound).
Paper item counts and token lengths are the assumptions in PAPER_STAGES (corpus sizes as published).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time
from dataclasses import dataclass
from pathlib import Path

from speechalign.params import load_params

# Parameter counts (published model cards / configs).
PARAMS = {
    "smollm2-135m": 135e6,
    "whisper-base-encoder": 20e6,
    "whisper-base": 74e6,
    "qwen2.5-7b": 7.6e9,
    "qwen2-audio-7b": 8.4e9,  # Whisper-large-v3-sized encoder (0.64B) + Qwen-7B LM (7.7B)
    "whisper-large-v3-encoder": 0.64e9,
    "whisper-large-v3-decoder": 0.91e9,
}
BF16_BYTES = 2


@dataclass(frozen=True)
class PaperStage:
    """One stage at the paper scale: jobs x items, forward/training FLOPs per item, decoding steps."""

    items: int  # items over all of the stage's jobs
    params: float  # parameters the item's tokens pass through
    tokens: float  # tokens per item through those parameters
    flops_per_param_token: int = 2  # 2 forward, 6 training
    extra_flops: float = 0.0  # per item, another model's share (e.g. the encoder)
    decode_steps: float = 0.0  # generated tokens per item (greedy decoding)
    batch: int = 1  # items decoded together
    note: str = ""

    def flops(self) -> float:
        return self.flops_per_param_token * self.params * self.tokens + self.extra_flops


# Paper sizes. LibriSpeech train-clean-100+360: 132,553 utterances, 460 h (12.5 s mean: 156 LM positions at
# 12.5 Hz, 313 Qwen2-Audio tokens at 25 Hz, 625 Whisper frames at 50 Hz). LibriSQA test: the 2,620
# test-clean passages (7.4 s mean). IEMOCAP Session 5, four classes: 1,241 utterances (4.5 s mean). Embedded
# controls (paper overlay): 48 SQA + 80 paralinguistic test items. ALAS: 2 models x 4 corpora.
LS_TRAIN, LS_AUDIO_POS, LS_WHISPER_FRAMES = 132_553, 156, 625
ALAS_ITEMS = 2620 + 1241 + 48 + 80
# One ALAS run's prefill: the mean of the audio run (7.4 s at Qwen2-Audio's 25 Hz: 185 tokens) and the text
# run (the transcript: ~25 tokens), plus ~40 prompt tokens. The composed model's 12.5 Hz halves its audio.
ALAS_RUN_TOKENS = (185 + 25) / 2 + 40
PAPER_STAGES = {
    "sift_targets": PaperStage(
        items=6 * (LS_TRAIN + 512),  # six LLM-written modes (tsit_s is the transcript)
        params=PARAMS["qwen2.5-7b"],
        tokens=120 + 150,  # prompt (system, metadata, transcript) + mean answer under the 256 cap
        decode_steps=150,
        batch=64,  # sift.batch_size
        note="6 modes x 133k utterances, greedy <= 256 tokens",
    ),
    "sift_features": PaperStage(
        items=LS_TRAIN + 512,
        params=PARAMS["whisper-large-v3-encoder"],
        tokens=LS_WHISPER_FRAMES,
        note="Whisper-large-v3 encoder, unpadded",
    ),
    "train_variant": PaperStage(
        items=10 * 20000 * 32,  # variants x steps x batch (train.run, steps, batch_size)
        params=PARAMS["qwen2.5-7b"],
        tokens=LS_AUDIO_POS + 40 + 150,  # audio positions + prompt + target, <= 512
        flops_per_param_token=6,
        note="10 variants x 20k steps x 32, through the frozen 7B LM",
    ),
    "sift_eval": PaperStage(
        items=12 * 48,  # trained variants + 2 untrained controls, embedded SQA test items
        params=PARAMS["qwen2.5-7b"],
        tokens=375 + 60 + 40,
        decode_steps=40,
        batch=8,
        note="12 models x 48 spoken-QA items",
    ),
    "reference_align": PaperStage(
        items=ALAS_ITEMS,
        params=PARAMS["whisper-large-v3-decoder"],
        tokens=5 * 30,  # beam 5 x ~30 text tokens
        extra_flops=2 * PARAMS["whisper-large-v3-encoder"] * 1500,  # the pipeline pads to 30 s
        decode_steps=30,
        batch=1,
        note="HF Whisper-large-v3, beam 5, word timestamps",
    ),
    "alas_measure": PaperStage(
        items=2 * ALAS_ITEMS * 2,  # models x utterances x (audio run, text run)
        params=PARAMS["qwen2-audio-7b"],
        tokens=2 * ALAS_RUN_TOKENS + 40,  # the answer's prefill and <= 40 tokens, then the scoring prefill
        decode_steps=40,
        batch=8,  # backends.batch_size
        note="2 models x 4k utterances x 2 prompts: answer (<= 40 tokens), then a prefill keeping all layers",
    ),
}

# The quick run: the benchmark files that time each stage.
BENCH_GLOBS = {
    "sift_targets": "sift/targets/*.tsv",
    "sift_features": "sift/features/*.tsv",
    "train_variant": "train/*/seed*.tsv",
    "sift_eval": "train/qa/*/seed*.tsv",
    "reference_align": "reference/*/*.tsv",
    "alas_measure": "alas/*/*.tsv",
}


def bench_seconds(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a Snakemake benchmark file (means over its repeats). CPU time barely moves
    when other work shares the cores, but Snakemake samples it (each second for 30 s, then every 30 s), so
    a long job's last seconds can go uncounted."""
    with path.open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return tuple(sum(float(r[k]) for r in rows) / len(rows) for k in ("s", "cpu_time"))


def jsonl_lines(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def prompt_tokens(target: dict) -> float:
    """Tokens of the prompt a target's writer read: about 4 characters a token, plus the chat template's."""
    text = target["system"] + target["writer_input"] + (target["instruction"] or "")
    return len(text) / 4 + 15


def corpus_stats(run: Path, corpus: str) -> tuple[int, float, float]:
    """Utterances, mean seconds and mean words per utterance of a corpus's card."""
    card = json.loads((run / "data/corpora" / corpus / "card.json").read_text())
    n = card["utterances"]
    return n, 3600 * card["hours"] / n, card["words"] / n


def quick_items_and_flops(run: Path, stage: str, bench: Path, quick: dict) -> tuple[int, float]:
    """Items one benchmarked job of the quick run handled and the model FLOPs per item, from its outputs.
    Audio: 50 Whisper frames a second, 12.5 LM positions (stack 4); text: 1.3 tokens a word."""
    name, llm = bench.stem, PARAMS["smollm2-135m"]
    if stage == "sift_targets":
        rows = jsonl_lines(run / "data/sift/targets" / f"{name}.jsonl")
        tokens = sum(prompt_tokens(r) + r["new_tokens"] for r in rows) / max(len(rows), 1)
        return len(rows), 2 * llm * tokens
    if stage == "sift_features":
        n, seconds, _ = corpus_stats(run, name)
        return n, 2 * PARAMS["whisper-base-encoder"] * 50 * seconds
    if stage == "train_variant":
        json.loads((run / "results/train" / bench.parent.name / name / "metrics.json").read_text())  # done
        _, seconds, _ = corpus_stats(run, quick["sift"]["corpus"])
        tokens = 12.5 * seconds + 40 + quick["sift"]["max_new_tokens"]  # audio + prompt + target (at most)
        return quick["train"]["steps"] * quick["train"]["batch_size"], 6 * llm * tokens
    if stage == "sift_eval":
        json.loads((run / "results/train/qa" / bench.parent.name / f"{name}.json").read_text())
        _, seconds, _ = corpus_stats(run, "sqa")
        return quick["train"]["qa_items"], 2 * llm * (
            12.5 * seconds + 60 + quick["backends"]["max_new_tokens"]
        )
    if stage == "reference_align":
        rows = jsonl_lines(run / "data/reference" / bench.parent.name / f"{name}.jsonl.gz")
        _, _, words = corpus_stats(run, name)
        encoder = 2 * PARAMS["whisper-base-encoder"] * 1500  # padded to 30 s
        decoder = 2 * (PARAMS["whisper-base"] - PARAMS["whisper-base-encoder"]) * 1.3 * words
        return len(rows), encoder + decoder
    if stage == "alas_measure":
        import pandas as pd

        pairs = len(pd.read_parquet(run / "results/responses" / bench.parent.name / f"{name}.parquet"))
        _, seconds, words = corpus_stats(run, name)
        prompt = (12.5 * seconds + 1.3 * words) / 2 + 40  # mean of the audio and the text run
        return 2 * pairs, 2 * llm * (2 * prompt + quick["backends"]["max_new_tokens"])  # answer, then score
    raise ValueError(stage)


def cpu_matmul_flops(size: int = 1024, repeats: int = 5) -> float:
    """One core's sustained fp32 matmul throughput (FLOP/s), the best of a few runs."""
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def quick_costs(run: Path, quick: dict) -> dict[str, dict]:
    """Per stage: items, wall and CPU seconds per item and FLOPs per item of the quick run under ``run``."""
    costs = {}
    for stage, pattern in BENCH_GLOBS.items():
        items = wall = cpu = flops = 0.0
        for bench in sorted((run / "logs/bench").glob(pattern)):
            if stage == "reference_align" and bench.parent.name != "whisper-timestamped":
                continue  # the Whisper aligner ALAS reads; the other aligners are the accuracy comparison
            if stage == "sift_targets" and bench.stem == "tsit_s":
                continue  # its targets are the transcripts: no LLM runs
            try:
                n, item_flops = quick_items_and_flops(run, stage, bench, quick)
            except FileNotFoundError:
                continue  # the job has not finished
            job_wall, job_cpu = bench_seconds(bench)
            items, wall, cpu = items + n, wall + job_wall, cpu + job_cpu
            flops += n * item_flops
        if items:
            costs[stage] = {
                "items": int(items),
                "wall_per_item": wall / items,
                "cpu_per_item": cpu / items,
                "flops_per_item": flops / items,
            }
    return costs


def gpu_seconds(stage: PaperStage, sustained_flops: float, bandwidth: float) -> float:
    """Seconds on one GPU: compute at the sustained rate, or streaming the bf16 weights once per decoding
    step of a batch, whichever is longer.

    >>> gpu_seconds(PaperStage(items=1, params=1e9, tokens=1000), 1e12, 1e12)  # 2e12 FLOP at 1e12 FLOP/s
    2.0
    >>> gpu_seconds(PaperStage(items=1, params=1e9, tokens=1, decode_steps=100), 1e12, 1e12)  # 100 x 2 GB
    0.2
    """
    compute = stage.items * stage.flops() / sustained_flops
    decode = stage.items / stage.batch * stage.decode_steps * stage.params * BF16_BYTES / bandwidth
    return max(compute, decode)


def table(run: Path, profile: str, peak_tflops: float, utilisation: float, bandwidth_gbs: float) -> str:
    cpu = cpu_matmul_flops()
    measured = quick_costs(run, load_params(run, overrides={"profile": profile}))
    sustained = peak_tflops * 1e12 * utilisation
    lines = [
        f"CPU matmul throughput here: {cpu / 1e9:.0f} GFLOP/s per core (fp32). GPU: {utilisation:.0%} of "
        f"{peak_tflops:.0f} TFLOP/s = {sustained / 1e12:.0f} TFLOP/s sustained, {bandwidth_gbs:.0f} GB/s.",
        "",
        "| stage | quick items | wall s/item | CPU s/item | GFLOP/item | GFLOP per CPU-s | paper items |"
        " paper TFLOP/item | GPU hours | paper work |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    total = 0.0
    for name, stage in PAPER_STAGES.items():
        q = measured.get(name)
        hours = gpu_seconds(stage, sustained, bandwidth_gbs * 1e9) / 3600
        total += hours
        quick_cells = (
            f"{q['items']} | {q['wall_per_item']:.2f} | {q['cpu_per_item']:.2f} | "
            f"{q['flops_per_item'] / 1e9:.1f} | {q['flops_per_item'] / q['cpu_per_item'] / 1e9:.1f}"
            if q
            else "- | - | - | - | -"
        )
        lines.append(
            f"| {name} | {quick_cells} | {stage.items:,} | {stage.flops() / 1e12:.2f} | {hours:,.2f} "
            f"| {stage.note} |"
        )
    lines.append(f"| **total** | | | | | | | | **{total:,.0f}** | |")
    return "\n".join(lines)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--run", type=Path, default=Path("."), help="folder of a finished quick run")
    parser.add_argument("--profile", default="quick", help="the params profile the measured run used")
    parser.add_argument("--peak-tflops", type=float, default=312.0, help="GPU bf16 dense peak (A100: 312)")
    parser.add_argument("--utilisation", type=float, default=0.4, help="sustained share of the peak")
    parser.add_argument("--bandwidth-gbs", type=float, default=2039.0, help="GPU memory bandwidth (A100)")
    args = parser.parse_args()
    print(table(args.run, args.profile, args.peak_tflops, args.utilisation, args.bandwidth_gbs))


if __name__ == "__main__":
    main()
