"""SIFT speed at the small profile's shapes, measured side by side with the code before issue 19 in one run:

- training: trained items per second of a step (batch, projector width, 64-token targets of the small
  profile; batches drawn from the SIFT corpus as the trainer draws them) by ``SiftSpeechLLM.response_losses``
  (the chat prefix's states cached, examples unpadded) against the baseline, the whole prompt and response of
  every example in one right-padded batch (``baseline_losses``, the implementation before); the same loss and
  gradients are checked. Goal: >= 2x.
- generation: target tokens per second of ``speechalign.sift.targets.generate_greedy`` (the shared chat
  prefix computed once, finished answers leaving the batch, params ``sift.batch_size`` prompts per batch)
  against the baseline, transformers' ``generate`` on length-sorted left-padded batches of 16
  (``baseline_generate``), on the writer prompts of ``--modes`` (one call per mode, as the stage runs them);
  the outputs must be token-identical. Goal: >= 2x.

The stages also keep freed memory for reuse (``speechalign.env.keep_freed_memory``), a process-wide setting
the baselines ran without: every baseline run comes first, then the setting, then the fast runs (with
``--same-allocator`` both run under it, which isolates the code's share). Medians of ``--repeats`` rounds;
``--clock cpu`` counts this process's CPU seconds (robust on a loaded machine, with ``--threads 1``). The
ratios are printed last.

With ``--caching``: the cached-feature step against steps that run the frozen encoder (issue 7). With
``--small-profile``: the time the small profile's training takes here, extrapolated from measured steps.

    .venv/bin/python benchmarks/bench_sift.py --threads 1 --clock cpu
    .venv/bin/python benchmarks/bench_sift.py --caching --manifest data/corpora/sift
    .venv/bin/python benchmarks/bench_sift.py --small-profile
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

from speechalign.backends.device import autocast, training_dtype
from speechalign.env import keep_freed_memory

# --clock cpu makes it time.process_time: this process's CPU seconds, robust to a loaded machine
CLOCK = time.perf_counter
SMALL = {"profile": "small"}


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


def flops(fn) -> int:
    """Floating-point operations of one call (forward and backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# --- the baselines: the code before issue 19 ---------------------------------------------------------------
IGNORE = -100


def baseline_losses(model, pieces, slots):
    """The training loss before issue 19 (``SiftSpeechLLM.assemble`` + ``token_losses``): every example's
    whole sequence in one right-padded batch, the LM head on the labelled positions."""
    rows, labels = [], []
    for p, slot in zip(pieces, slots, strict=True):
        prompt = torch.cat([model.embed_ids(p.before), slot, model.embed_ids(p.after)])  # (S_p, D)
        rows.append(torch.cat([prompt, model.embed_ids(p.response)]))  # (S_i, D)
        labels.append(torch.tensor([IGNORE] * len(prompt) + p.response, dtype=torch.long))
    longest = max(len(r) for r in rows)
    embeds = rows[0].new_zeros(len(rows), longest, rows[0].shape[1])  # (B, S, D)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    label_pad = torch.full((len(rows), longest), IGNORE, dtype=torch.long)
    for b, (r, lab) in enumerate(zip(rows, labels, strict=True)):
        embeds[b, : len(r)], mask[b, : len(r)], label_pad[b, : len(r)] = r, 1, lab
    hidden = model.llm.get_decoder()(inputs_embeds=embeds, attention_mask=mask, use_cache=False)
    targets = label_pad[:, 1:]
    scored = targets != IGNORE
    logits = model.llm.get_output_embeddings()(hidden.last_hidden_state[:, :-1][scored]).float()
    total = torch.nn.functional.cross_entropy(logits, targets[scored], reduction="sum")
    return total, int(scored.sum())


def baseline_generate(model, tokenizer, prompts, max_new_tokens: int, batch_size: int):
    """Target generation before issue 19: transformers' ``generate`` on length-sorted, left-padded batches."""
    from speechalign.sift.targets import end_token_ids, split_generation

    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ends = end_token_ids(tokenizer, model)
    encoded = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results = [None] * len(prompts)
    for first in range(0, len(order), batch_size):
        chunk = order[first : first + batch_size]
        longest = max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), longest), dtype=torch.long)
        for row, i in enumerate(chunk):
            ids[row, longest - len(encoded[i]) :] = torch.tensor(encoded[i])
            mask[row, longest - len(encoded[i]) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=pad_id, num_beams=1,
            )  # fmt: skip
        for row, i in enumerate(chunk):
            results[i] = split_generation(out[row, longest:].tolist(), ends, tokenizer)
    return results


# --- shared setup -------------------------------------------------------------------------------------------
def cap_response(tokenizer, tokens: int) -> str:
    """A target of exactly ``tokens`` tokens (the profile's cap, which most targets reach)."""
    return tokenizer.decode(tokenizer(" word" * tokens, add_special_tokens=False).input_ids[:tokens])


def small_model(args, train, dual: bool, llm, tokenizer, encoder_dim: int):
    from speechalign.train.model import Projectors, SiftModelConfig, SiftSpeechLLM

    config = SiftModelConfig(
        args.llm, args.encoder, train["paralinguistic_layer"] if dual else None, encoder_dim,
        llm.config.hidden_size, train["projector_hidden"], train["stack"], "{speech}\n{task}",
    )  # fmt: skip
    return SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))


def training_batches(args, utterances, train):
    """``--batches`` global batches of the small profile's size, drawn from the corpus's training split as the
    trainer draws them (seed 0), and their cached features."""
    from speechalign.sift.features import compute_features, load_whisper_encoder
    from speechalign.train.fit import global_batch_indices

    pool = [u for u in utterances if u.split == "train"]
    batches = [
        [pool[i] for i in global_batch_indices(step, len(pool), train["batch_size"], 0)]
        for step in range(args.batches)
    ]
    wanted = list({u.id: u for b in batches for u in b}.values())
    encoder, extractor = load_whisper_encoder(args.encoder)
    store = compute_features(wanted, encoder, extractor, train["paralinguistic_layer"], args.encoder)
    return [[store.frames(u.id) for u in b] for b in batches], encoder.config.d_model


# --- training: fast vs baseline -----------------------------------------------------------------------------
def training_side_by_side(args, utterances, params) -> float:
    """Trained items per second, fast over baseline, at the small profile's shapes (single encoder)."""
    from speechalign.train.model import load_frozen_llm, prompt_pieces

    train = params["train"]
    batches, encoder_dim = training_batches(args, utterances, train)
    llm, tokenizer = load_frozen_llm(args.llm)
    model = small_model(args, train, False, llm, tokenizer, encoder_dim)
    response = cap_response(tokenizer, params["sift"]["max_new_tokens"])
    pieces = prompt_pieces(
        tokenizer, params["backends"]["system_prompt"], None, model.config.layout, response, True
    )
    optimizer = torch.optim.Adam(model.projectors.parameters(), lr=1e-3)

    def step(losses, frames):
        sem, _ = model.projectors([s for s, _ in frames], None)
        total, count = losses([pieces] * len(frames), model.slots(sem, None))
        optimizer.zero_grad()
        (total / count).backward()
        return float(total.detach()), [p.grad.clone() for p in model.projectors.parameters()]

    dtype = training_dtype(train["dtype"], torch.device("cpu"))

    def fast(frames, precision=dtype):  # what `train` runs: under the profile's train.dtype
        with autocast(torch.device("cpu"), precision):
            return step(model.response_losses, frames)

    base = lambda frames: step(lambda p, s: baseline_losses(model, p, s), frames)  # noqa: E731
    check_same_step(fast(batches[0], torch.float32), base(batches[0]))
    if dtype != torch.float32:
        check_close_step(fast(batches[0]), base(batches[0]), dtype)
    seconds = {}
    for name, path in (("baseline", base), ("fast", fast)):
        if name == "fast":
            keep_freed_memory()
        timed = [lambda f=frames, p=path: p(f) for frames in batches]
        seconds[name] = [median_seconds([fn], args.repeats)[0] for fn in timed]
    items = train["batch_size"] * len(batches)
    rates = {k: items / sum(v) for k, v in seconds.items()}
    positions = [max(len(f[0]) for f in frames) // train["stack"] for frames in batches]
    print(
        f"training step, batch {train['batch_size']}, projector {train['projector_hidden']}, stack "
        f"{train['stack']}, {params['sift']['max_new_tokens']}-token targets, {len(batches)} batches "
        f"(longest audio {positions} positions): baseline (float32) {rates['baseline']:.3f} items/s, fast "
        f"({str(dtype).removeprefix('torch.')}) {rates['fast']:.3f} items/s"
    )
    return rates["fast"] / rates["baseline"]


def check_same_step(fast, base) -> None:
    """The fast step's loss and gradients are the baseline's, to float tolerance."""
    if not math.isclose(fast[0], base[0], rel_tol=1e-5):
        raise SystemExit(f"the fast loss {fast[0]} differs from the baseline's {base[0]}")
    for g_fast, g_base in zip(fast[1], base[1], strict=True):
        torch.testing.assert_close(g_fast, g_base, rtol=1e-3, atol=1e-6)


def check_close_step(fast, base, dtype) -> None:
    """Under reduced precision the loss stays within 5% of float32's and each gradient points the same way
    (cosine >= 0.95): the same training signal, not the same bits. Prints how close they are."""
    relative = abs(fast[0] - base[0]) / abs(base[0])
    cosines = [
        float(torch.nn.functional.cosine_similarity(f.flatten(), b.flatten(), dim=0))
        for f, b in zip(fast[1], base[1], strict=True)
    ]
    print(f"{dtype} against float32: loss {relative:.2%} apart, gradient cosines >= {min(cosines):.4f}")
    if relative > 0.05 or min(cosines) < 0.95:
        raise SystemExit(f"the {dtype} step is not float32's training signal")


# --- generation: fast vs baseline ---------------------------------------------------------------------------
def writer_prompts(utterances, mode: str, params, tokenizer) -> list[str]:
    from speechalign.backends import chat_prompt
    from speechalign.sift.targets import writer_prompt

    sift = {**params["sift"], "system_prompt": params["backends"]["system_prompt"]}
    prompts = [writer_prompt(u, mode, sift) for u in utterances]
    return [chat_prompt(tokenizer, system, user) for system, _, user in prompts]


def generation_side_by_side(args, utterances, params) -> float:
    """Target tokens per second, fast over baseline, on the writer prompts of ``--modes``; refuses to report a
    ratio unless the outputs are token-identical."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from speechalign.models import model_path
    from speechalign.sift.targets import generate_greedy

    folder = model_path(args.llm)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    new_tokens, batch = params["sift"]["max_new_tokens"], params["sift"]["batch_size"]
    chosen = [u for u in utterances if u.split == "train"][: args.prompts]
    per_mode = [writer_prompts(chosen, mode, params, tokenizer) for mode in args.modes.split(",")]
    paths = {
        "baseline": lambda prompts: baseline_generate(
            model, tokenizer, prompts, new_tokens, args.baseline_batch
        ),
        "fast": lambda prompts: generate_greedy(model, tokenizer, prompts, new_tokens, batch),
    }
    seconds, outputs = {k: 0.0 for k in paths}, {k: [] for k in paths}
    for name, generate in paths.items():
        if name == "fast":
            keep_freed_memory()
        for prompts in per_mode:  # one call per mode, as the stage generates them
            start = CLOCK()
            outputs[name] += generate(prompts)
            seconds[name] += CLOCK() - start
    if outputs["fast"] != outputs["baseline"]:
        differ = sum(f != b for f, b in zip(outputs["fast"], outputs["baseline"], strict=True))
        raise SystemExit(f"generation: {differ} of {len(outputs['fast'])} outputs differ from the baseline's")
    tokens = sum(g.new_tokens for g in outputs["fast"])
    rates = {k: tokens / s for k, s in seconds.items()}
    print(
        f"generation, {args.modes} x {len(chosen)} prompts, {new_tokens} new tokens at most ({tokens} made, "
        f"{sum(g.truncated for g in outputs['fast'])} truncated): baseline batch {args.baseline_batch} "
        f"{rates['baseline']:.1f} tok/s, fast batch {batch} {rates['fast']:.1f} tok/s; outputs identical"
    )
    return rates["fast"] / rates["baseline"]


# --- cached features vs the encoder in the step (issue 7) ---------------------------------------------------
def caching(args, utterances) -> None:
    """Seconds and FLOPs of a step on cached features against steps that run the frozen encoder on the clip's
    real length and padded to 30 s (what ``WhisperEncoder.forward`` insists on)."""
    from speechalign.params import load_params
    from speechalign.sift.features import compute_features, load_whisper_encoder, read_wave
    from speechalign.sift.paralinguistic import whisper_layer_frames
    from speechalign.train.model import load_frozen_llm, prompt_pieces

    train = {**load_params(".", overrides=SMALL)["train"], "batch_size": args.batch}
    batch = utterances[: args.batch]
    encoder, extractor = load_whisper_encoder(args.encoder)
    store = compute_features(batch, encoder, extractor, 0, args.encoder)
    llm, tokenizer = load_frozen_llm(args.llm)
    model = small_model(
        args, {**train, "paralinguistic_layer": 0}, True, llm, tokenizer, encoder.config.d_model
    )
    optimizer = torch.optim.Adam(model.projectors.parameters(), lr=1e-3)
    pieces = [prompt_pieces(tokenizer, "", None, model.config.layout, "A short reply.", False)] * len(batch)
    waves = [read_wave(u.audio_path) for u in batch]
    n_blocks = len(encoder.layers)

    def step(frames):
        sem, para = model.projectors([s for s, _ in frames], [p for _, p in frames])
        total, count = model.response_losses(pieces, model.slots(sem, para))
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()

    def encoder_step():
        frames = []
        for w in waves:
            layers = whisper_layer_frames(encoder, extractor, w, [0, n_blocks])
            frames.append((layers[n_blocks].clone(), layers[0].clone()))  # out of inference mode
        step(frames)

    def padded_encoder_step():
        frames = []
        for w in waves:
            mel = extractor(w, sampling_rate=16000, return_tensors="pt").input_features  # (1, 80, 3000)
            with torch.no_grad():
                out = encoder(mel, output_hidden_states=True)
            n = (len(w) + 319) // 320
            frames.append((out.last_hidden_state[0, :n], out.hidden_states[0][0, :n]))
        step(frames)

    steps = [lambda: step([store.frames(u.id) for u in batch]), encoder_step, padded_encoder_step]
    seconds, counts = median_seconds(steps, args.repeats), [flops(s) for s in steps]
    names = [
        "cached features",
        "the encoder in the step, real length",
        "the encoder in the step, padded to 30 s",
    ]
    print(f"training step, batch {args.batch}, dual encoder:")
    for name, secs, count in zip(names, seconds, counts, strict=True):
        print(f"  {name:42s} {secs:7.3f} s {secs / seconds[0]:5.2f}x  {count / 1e9:7.1f} GFLOP")


# --- the small profile's training time ----------------------------------------------------------------------
def small_profile_estimate(args, utterances, params) -> None:
    """Measure a small-profile training step and validation batch (single and dual encoder) and extrapolate
    every variant of the small profile's train.run: steps x step + validations x batches x batch."""
    from speechalign.train.model import load_frozen_llm, prompt_pieces

    train = params["train"]
    batches, encoder_dim = training_batches(args, utterances, train)
    llm, tokenizer = load_frozen_llm(args.llm)
    response = cap_response(tokenizer, params["sift"]["max_new_tokens"])
    system = params["backends"]["system_prompt"]
    pieces = [prompt_pieces(tokenizer, system, None, "{speech}\n{task}", response, True)] * train[
        "batch_size"
    ]
    seconds = {}
    for dual in (False, True):
        model = small_model(args, train, dual, llm, tokenizer, encoder_dim)
        optimizer = torch.optim.Adam(model.projectors.parameters(), lr=1e-3)

        def losses(frames=batches[0], dual=dual, model=model):
            sem, para = model.projectors([s for s, _ in frames], [p for _, p in frames] if dual else None)
            return model.response_losses(pieces, model.slots(sem, para))

        def train_step(losses=losses, optimizer=optimizer):
            total, count = losses()
            optimizer.zero_grad()
            (total / count).backward()
            optimizer.step()

        def val_batch(losses=losses):
            with torch.no_grad():
                losses()

        seconds[dual] = median_seconds([train_step, val_batch], args.repeats)
    print(
        f"small profile (batch {train['batch_size']}, projector {train['projector_hidden']}, targets of "
        f"{params['sift']['max_new_tokens']} tokens): train step {seconds[False][0]:.2f} s single / "
        f"{seconds[True][0]:.2f} s dual encoder; validation batch {seconds[False][1]:.2f} / "
        f"{seconds[True][1]:.2f} s"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default="data/corpora/sift")
    parser.add_argument("--llm", default="smollm2-135m-instruct")
    parser.add_argument("--encoder", default="whisper-base")
    parser.add_argument(
        "--batches", type=int, default=2, help="training batches timed (each --repeats times)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=64, help="generation prompts per mode")
    parser.add_argument(
        "--modes", default="sift_s,sift_ssp", help="the writer prompts' modes (comma-separated)"
    )
    parser.add_argument("--baseline-batch", type=int, default=16, help="the baseline's generation batch")
    parser.add_argument("--batch", type=int, default=4, help="--caching: training batch")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--part", choices=["both", "training", "generation"], default="both")
    parser.add_argument("--stack", type=int, help="override train.stack (e.g. 8: the paper's 6.25 Hz)")
    parser.add_argument("--dtype", help="override train.dtype of the fast path (float32, bfloat16)")
    parser.add_argument(
        "--same-allocator", action="store_true", help="keep freed memory in the baselines too (code's share)"
    )
    parser.add_argument(
        "--caching", action="store_true", help="only cached features vs the encoder in the step"
    )
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
    if args.same_allocator:
        keep_freed_memory()
    from speechalign.data.manifest import read_manifest
    from speechalign.params import load_params

    utterances = read_manifest(args.manifest)
    params = load_params(".", overrides=SMALL)
    print(
        f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}, clock {args.clock}"
    )
    if args.caching:
        return caching(args, utterances)
    if args.small_profile:
        return small_profile_estimate(args, utterances, params)
    if args.stack:
        params["train"]["stack"] = args.stack
    if args.dtype:
        params["train"]["dtype"] = args.dtype
    if args.part != "generation":
        training = training_side_by_side(args, utterances, params)
    if args.part != "training":
        generation = generation_side_by_side(args, utterances, params)
    if args.part != "generation":
        print(f"ratio, trained items per second, fast / baseline: {training:.2f}x (goal >= 2x)")
    if args.part != "training":
        print(f"ratio, target tokens per second, fast / baseline: {generation:.2f}x (goal >= 2x)")


if __name__ == "__main__":
    main()
