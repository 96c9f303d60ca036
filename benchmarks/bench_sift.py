"""SIFT speed: a training step on cached encoder features against a step that runs the frozen encoder
(target >= 2x), and batched greedy target generation against one prompt at a time (target >= 4x tokens/s).
Baselines run in the same process on the same inputs, interleaved (one of each per round, so a change of
machine load hits all alike); medians of ``--repeats`` rounds. Also the cached step with the LM head on every
position (the implementation before the head was restricted to labelled positions), to show that fix.

With ``--small-profile``: the time a training variant of the small profile takes on this machine,
extrapolated from measured steps (a training step and a validation batch at the small profile's batch size,
projector width and target length, single- and dual-encoder) to its steps, validations and seeds.

    .venv/bin/python benchmarks/bench_sift.py --manifest data/corpora/sift
    .venv/bin/python benchmarks/bench_sift.py --manifest data/corpora/sift --batch 8 --threads 2
    .venv/bin/python benchmarks/bench_sift.py --small-profile
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

# --clock cpu makes it time.process_time: this process's CPU seconds, robust to a loaded machine
CLOCK = time.perf_counter


def median_seconds(fns, repeats: int) -> list[float]:
    """Median seconds of each function, run in turn once per round after one warm-up round."""
    times = [[] for _ in fns]
    for round_ in range(repeats + 1):
        for fn, kept in zip(fns, times, strict=True):
            start = CLOCK()
            fn()
            if round_:
                kept.append(CLOCK() - start)
    return [statistics.median(t) for t in times]


def full_vocabulary_losses(model, embeds, mask, labels):
    """The previous ``SiftSpeechLLM.token_losses``: logits of every position, then the masked loss."""
    from speechalign.train.model import IGNORE

    logits = model.llm(inputs_embeds=embeds, attention_mask=mask).logits  # (B, S, V)
    shifted = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    targets = labels[:, 1:].reshape(-1)
    total = torch.nn.functional.cross_entropy(shifted, targets, ignore_index=IGNORE, reduction="sum")
    return total, (targets != IGNORE).sum()


def flops(fn) -> int:
    """Floating-point operations of one call (forward and backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def training_steps(args, utterances):
    """Seconds of (cached-feature step, unpadded-encoder step, padded-encoder step, cached step with the
    full-vocabulary loss), and the FLOPs of each."""
    from speechalign.sift.features import compute_features, load_whisper_encoder, read_wave
    from speechalign.sift.paralinguistic import whisper_layer_frames
    from speechalign.train.model import (
        Projectors,
        SiftModelConfig,
        SiftSpeechLLM,
        load_frozen_llm,
        prompt_pieces,
    )

    batch = utterances[: args.batch]
    encoder, extractor = load_whisper_encoder(args.encoder)
    store = compute_features(batch, encoder, extractor, 0, args.encoder)
    llm, tokenizer = load_frozen_llm(args.llm)
    config = SiftModelConfig(
        args.llm, args.encoder, 0, encoder.config.d_model, llm.config.hidden_size, 1024, 4, "{speech}\n{task}"
    )
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    optimizer = torch.optim.Adam(model.projectors.parameters(), lr=1e-3)
    pieces = [
        prompt_pieces(tokenizer, "", None, config.layout, "A short reply of about ten words.", False)
        for _ in batch
    ]
    waves = [read_wave(u.audio_path) for u in batch]
    n_blocks = len(encoder.layers)

    def step(frames, losses=model.token_losses):
        sem, para = model.projectors([s for s, _ in frames], [p for _, p in frames])
        total, count = losses(*model.assemble(pieces, sem, para))
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()

    def cached_step():
        step([store.frames(u.id) for u in batch])

    def cached_full_vocabulary_step():
        step([store.frames(u.id) for u in batch], lambda *a: full_vocabulary_losses(model, *a))

    def encoder_step():
        frames = []
        for w in waves:
            layers = whisper_layer_frames(encoder, extractor, w, [0, n_blocks])
            frames.append((layers[n_blocks].clone(), layers[0].clone()))  # out of inference mode
        step(frames)

    def padded_encoder_step():
        # what WhisperEncoder.forward insists on: 30 s of input, sliced back to the clip's frames
        frames = []
        for w in waves:
            mel = extractor(w, sampling_rate=16000, return_tensors="pt").input_features  # (1, 80, 3000)
            with torch.no_grad():
                out = encoder(mel, output_hidden_states=True)
            n = (len(w) + 319) // 320
            frames.append((out.last_hidden_state[0, :n], out.hidden_states[0][0, :n]))
        step(frames)

    steps = [cached_step, encoder_step, padded_encoder_step, cached_full_vocabulary_step]
    return median_seconds(steps, args.repeats), [flops(step) for step in steps]


def step_and_validation_seconds(model, pieces, frames, dual: bool, repeats: int) -> list[float]:
    """Median seconds of a training step and of a validation batch (no gradients) on ``frames``."""
    optimizer = torch.optim.Adam(model.projectors.parameters(), lr=1e-3)

    def losses():
        sem, para = model.projectors([s for s, _ in frames], [p for _, p in frames] if dual else None)
        return model.token_losses(*model.assemble(pieces, sem, para))

    def train_step():
        total, count = losses()
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()

    def val_batch():
        with torch.no_grad():
            losses()

    return median_seconds([train_step, val_batch], repeats)


def small_profile_estimate(args, utterances) -> None:
    """Measure a small-profile training step and validation batch (single and dual encoder) and extrapolate
    every variant of the small profile's train.run: steps x step + validations x batches x batch."""
    from speechalign.params import load_params
    from speechalign.sift.features import compute_features, load_whisper_encoder
    from speechalign.train.model import (
        Projectors,
        SiftModelConfig,
        SiftSpeechLLM,
        load_frozen_llm,
        prompt_pieces,
    )

    params = load_params(".", overrides={"profile": "small"})
    train, new_tokens = params["train"], params["sift"]["max_new_tokens"]
    batch = [u for u in utterances if u.split == "train"][: train["batch_size"]]
    encoder, extractor = load_whisper_encoder(args.encoder)
    store = compute_features(batch, encoder, extractor, train["paralinguistic_layer"], args.encoder)
    llm, tokenizer = load_frozen_llm(args.llm)
    # the longest target the profile allows (many hit max_new_tokens): an upper bound on the step
    response = tokenizer.decode(
        tokenizer(" word" * new_tokens, add_special_tokens=False).input_ids[:new_tokens]
    )
    pieces = [
        prompt_pieces(
            tokenizer, params["backends"]["system_prompt"], None, "{speech}\n{task}", response, True
        )
        for _ in batch
    ]
    seconds = {}
    for dual in (False, True):
        config = SiftModelConfig(
            args.llm, args.encoder, train["paralinguistic_layer"] if dual else None, encoder.config.d_model,
            llm.config.hidden_size, train["projector_hidden"], train["stack"], "{speech}\n{task}",
        )  # fmt: skip
        model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
        frames = [store.frames(u.id) for u in batch]
        seconds[dual] = step_and_validation_seconds(model, pieces, frames, dual, args.repeats)
    print(
        f"small profile (batch {train['batch_size']}, projector {train['projector_hidden']}, targets of "
        f"{new_tokens} tokens): train step {seconds[False][0]:.2f} s single / {seconds[True][0]:.2f} s dual "
        f"encoder; validation batch {seconds[False][1]:.2f} / {seconds[True][1]:.2f} s"
    )
    total = 0.0
    for name in train["run"]:
        variant = train["variants"][name]
        step, val = seconds[variant["encoders"] == "dual"]
        validations = train["steps"] // train["eval_every"] + 1
        val_batches = math.ceil(train["val_items"] * len(variant["data"]) / train["batch_size"])
        variant_seconds = train["steps"] * step + validations * val_batches * val
        total += variant_seconds * len(train["seeds"])
        print(f"  {name}: {variant_seconds / 60:.1f} min per seed (extrapolated)")
    print(
        f"  all {len(train['run'])} variants x {len(train['seeds'])} seeds: {total / 3600:.1f} h of training "
        f"(extrapolated; targets, features and evaluation not included)"
    )


def generation(args, utterances):
    """(batched tokens/s, one-at-a-time tokens/s, outputs identical?)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from speechalign.backends import chat_prompt
    from speechalign.models import model_path
    from speechalign.sift.targets import generate_greedy

    folder = model_path(args.llm)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompts = [chat_prompt(tokenizer, "", u.text) for u in utterances[: args.prompts]]
    results = {}
    for name, batch_size in (("batched", args.prompts), ("one-at-a-time", 1)):
        start = CLOCK()
        gens = generate_greedy(model, tokenizer, prompts, args.max_new_tokens, batch_size)
        seconds = CLOCK() - start
        results[name] = (sum(g.new_tokens for g in gens) / seconds, gens)
    same = [g.text for g in results["batched"][1]] == [g.text for g in results["one-at-a-time"][1]]
    return results["batched"][0], results["one-at-a-time"][0], same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default="data/corpora/sift")
    parser.add_argument("--llm", default="smollm2-135m-instruct")
    parser.add_argument("--encoder", default="whisper-base")
    parser.add_argument("--batch", type=int, default=4, help="training batch")
    parser.add_argument(
        "--prompts",
        type=int,
        default=None,
        help="generation prompts (= the batched batch size; default: the profile's sift.batch_size)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--small-profile", action="store_true", help="only the small profile's training-time extrapolation"
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: CPU seconds of this process (use with --threads 1 on a shared, loaded machine)",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    from speechalign.data.manifest import read_manifest

    utterances = read_manifest(args.manifest)
    if args.prompts is None:
        from speechalign.params import load_params

        args.prompts = load_params(".")["sift"]["batch_size"]
    print(
        f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}, clock {args.clock}"
    )
    if args.small_profile:
        small_profile_estimate(args, utterances)
        return
    seconds, counts = training_steps(args, utterances)
    print(f"training step, batch {args.batch} (time; FLOPs, the ceiling of what caching can save):")
    names = [
        "cached features",
        "baseline: unpadded encoder in the step",
        "baseline: 30 s-padded encoder in the step (target >= 2x)",
        "baseline: the cached step with the LM head on every position",
    ]
    for name, secs, count in zip(names, seconds, counts, strict=True):
        print(
            f"  {name:62s} {secs:7.3f} s {secs / seconds[0]:5.2f}x  "
            f"{count / 1e9:7.1f} GFLOP {count / counts[0]:5.2f}x"
        )
    batched, single, same = generation(args, utterances)
    print(
        f"generation, {args.prompts} prompts x {args.max_new_tokens} new tokens: "
        f"batched {batched:.1f} tok/s; "
        f"baseline one-at-a-time {single:.1f} tok/s; ratio {batched / single:.2f}x (target >= 4x); "
        f"identical outputs: {same}"
    )


if __name__ == "__main__":
    main()
