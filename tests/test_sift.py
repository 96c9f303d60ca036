"""SIFT: target formats per mode, truncation, the resumable cache, loss masking, checkpoints, resume, and
1- vs 2-process equivalence, on a tiny random LM built from a config (with SmolLM2's real tokenizer and
chat template, which the provisioned model folder supplies)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from backends.tiny_models import tiny_llama
from speechalign.errors import UserFacingError
from speechalign.sift import targets as T

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER_DIR = ROOT / "data/models/smollm2-135m-instruct/hf"
needs_tokenizer = pytest.mark.skipif(
    not TOKENIZER_DIR.is_dir(), reason="needs the provisioned SmolLM2 tokenizer"
)

PARAMS = {
    "seed": 0,
    "max_new_tokens": 8,
    "batch_size": 4,
    "system_prompt": "",
    "sit_instruction": "Describe all information you can hear.",
    "repeat_instruction": "Repeat the above content.",
    "virtual_human_prompt": "You are a real human.",
    "asr_instructions": ["Transcribe the audio.", "Write down what is said."],
}


def utt(i=0, text="The Cat sat.", gender="female", emotion="sad", age_group=None, split="train"):
    return SimpleNamespace(
        id=f"u{i}", text=text, gender=gender, emotion=emotion, age_group=age_group, split=split
    )


# --- target formats -----------------------------------------------------------------------------------------
def test_every_mode_renders_the_paper_format():
    u = utt()
    meta = "<audio><meta>gender: female, emotion: sad</meta><text>the cat sat.</text></audio>"
    assert T.writer_prompt(u, "sift_s", PARAMS) == ("", None, "The Cat sat.")
    assert T.writer_prompt(u, "sit_s", PARAMS) == (
        "",
        "Repeat the above content.",
        "The Cat sat.\nRepeat the above content.",
    )
    assert T.writer_prompt(u, "sift_sp", PARAMS) == ("", None, meta)
    sit = "Describe all information you can hear."
    assert T.writer_prompt(u, "sit_sp", PARAMS) == ("", sit, f"{meta}\n{sit}")
    assert T.writer_prompt(u, "sift_ssp", PARAMS) == ("You are a real human.", None, meta)
    assert T.writer_prompt(u, "sit_ssp", PARAMS) == ("You are a real human.", sit, f"{meta}\n{sit}")
    system, instruction, user = T.writer_prompt(u, "tsit_s", PARAMS)
    assert (system, user) == ("", "The Cat sat.") and instruction in PARAMS["asr_instructions"]


def test_unknown_metadata_is_dropped_and_age_comes_first():
    assert T.metadata_block(utt(gender=None, emotion="unknown", age_group="adult")) == "age: adult"
    assert (
        T.metadata_block(utt(gender=" male ", emotion="", age_group="senior")) == "age: senior, gender: male"
    )
    assert T.metadata_block(utt(gender=None, emotion=None)) == ""


def test_asr_instruction_is_drawn_per_utterance_and_reproducible():
    draws = [T.asr_instruction(f"u{i}", PARAMS["asr_instructions"], 0) for i in range(40)]
    assert set(draws) == set(PARAMS["asr_instructions"])
    assert draws == [T.asr_instruction(f"u{i}", PARAMS["asr_instructions"], 0) for i in range(40)]


def test_bad_inputs_fail_with_a_message():
    with pytest.raises(UserFacingError, match="unknown SIFT mode"):
        T.writer_prompt(utt(), "sift_x", PARAMS)
    with pytest.raises(UserFacingError, match="empty transcript"):
        T.writer_prompt(utt(text="  "), "sift_s", PARAMS)
    with pytest.raises(UserFacingError, match="needs the LLM"):
        T.make_targets([utt()], "sift_s", PARAMS, None, "m")


class FakeTokenizer:
    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"t{i}" for i in ids if not (skip_special_tokens and i == 2))


def test_end_token_stops_the_target_and_no_end_means_truncated():
    done = T.split_generation([5, 6, 2, 2, 2], {2}, FakeTokenizer())
    assert done == T.Generation("t5 t6", truncated=False, new_tokens=2)
    cut = T.split_generation([5, 6, 7], {2}, FakeTokenizer())
    assert cut == T.Generation("t5 t6 t7", truncated=True, new_tokens=3)


# --- cache --------------------------------------------------------------------------------------------------
class CountingWriter:
    def __init__(self, fail_after_calls=None):
        self.calls, self.seen, self.fail_after = 0, [], fail_after_calls

    def __call__(self, pairs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # an interruption mid-run
        self.calls += 1
        self.seen += [user for _, user in pairs]
        return [T.Generation(f"answer to {user}", truncated=False, new_tokens=3) for _, user in pairs]


def test_cache_resumes_without_redoing_finished_items(tmp_path):
    utts = [utt(i, text=f"Sentence number {i}.") for i in range(10)]
    cache_path = tmp_path / "cache.jsonl"
    with pytest.raises(KeyboardInterrupt):
        T.make_targets(
            utts,
            "sift_s",
            PARAMS,
            CountingWriter(fail_after_calls=2),
            "m",
            T.TargetCache(cache_path),
            chunk=3,
        )
    assert len(T.TargetCache(cache_path).entries) == 6
    with open(cache_path, "a") as f:
        f.write('{"key": "torn')  # a crash mid-line
    resumed = CountingWriter()
    targets = T.make_targets(utts, "sift_s", PARAMS, resumed, "m", T.TargetCache(cache_path), chunk=3)
    assert resumed.seen == [f"Sentence number {i}." for i in range(6, 10)]
    assert [t.target for t in targets] == [f"answer to Sentence number {i}." for i in range(10)]
    cache = T.TargetCache(cache_path)
    assert cache.torn_lines == 1 and len(cache.entries) == 10
    again = CountingWriter()
    T.make_targets(utts, "sift_s", PARAMS, again, "m", T.TargetCache(cache_path))
    assert again.calls == 0


def test_sift_targets_does_not_load_the_llm_when_every_target_is_cached(tmp_path, monkeypatch):
    import argparse

    import transformers

    from speechalign.data import manifest
    from speechalign.sift import cli_targets

    class Loaded(Exception):
        pass

    def refuse(*args, **kwargs):
        raise Loaded

    utts = [utt(i, text=f"Sentence number {i}.") for i in range(4)]
    monkeypatch.setattr(manifest, "read_manifest", lambda folder: utts)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "config.json").write_text("{}")
    params = {**PARAMS, "limit": None, "limit_heldout": None, "device": "cpu"}
    cache = tmp_path / "cache.jsonl"
    T.make_targets(utts, "sift_s", params, CountingWriter(), T.writer_id(str(llm), llm), T.TargetCache(cache))
    parser = argparse.ArgumentParser()
    cli_targets.add_arguments(parser)
    args = parser.parse_args(
        ["--manifest", "m", "--mode", "sift_s", "--out", str(tmp_path / "t.jsonl"), "--cache", str(cache),
         "--llm", str(llm), "--params", json.dumps(params), "--backend-params", '{"system_prompt": ""}']
    )  # fmt: skip
    cli_targets.run(args)  # every target cached: from_pretrained is never called
    assert [t.target for t in T.read_targets(tmp_path / "t.jsonl")] == [
        f"answer to Sentence number {i}." for i in range(4)
    ]
    utts.append(utt(9, text="Not cached yet."))
    with pytest.raises(Loaded):  # one missing target: now the LLM is loaded
        cli_targets.run(args)


def test_process_shards_together_make_the_one_process_targets(tmp_path):
    """Two writers each take every other item into their own cache; merged, the targets are those of one
    process, and no item is written twice or lost (the merge deletes the shards)."""
    utts = [utt(i, text=f"Sentence number {i}.") for i in range(7)]
    one = T.make_targets(utts, "sift_s", PARAMS, CountingWriter(), "m", T.TargetCache(tmp_path / "one.jsonl"))
    cache = tmp_path / "two.jsonl"
    writers = [CountingWriter(), CountingWriter()]
    for rank, writer in enumerate(writers):
        shard = T.TargetCache(T.shard_cache_path(cache, rank, 2), read_also=[cache])
        assert T.generate_shard(utts, "sift_s", PARAMS, writer, "m", shard, rank, 2, chunk=2) == [4, 3][rank]
    assert writers[0].seen == [f"Sentence number {i}." for i in (0, 2, 4, 6)]
    assert writers[1].seen == [f"Sentence number {i}." for i in (1, 3, 5)]
    merged = T.merged_cache(cache)
    assert not list(tmp_path.glob("two.jsonl.rank*"))
    after = CountingWriter()
    assert T.make_targets(utts, "sift_s", PARAMS, after, "m", merged) == one
    assert after.calls == 0 and len(T.TargetCache(cache).entries) == 7


def test_a_crashed_shard_is_kept_and_its_missing_items_written_at_the_merge(tmp_path):
    utts = [utt(i, text=f"Sentence number {i}.") for i in range(6)]
    cache = tmp_path / "c.jsonl"
    shard = T.TargetCache(T.shard_cache_path(cache, 1, 2))
    with pytest.raises(KeyboardInterrupt):  # rank 1 of 2 dies after its first chunk of one item
        T.generate_shard(
            utts, "sift_s", PARAMS, CountingWriter(fail_after_calls=1), "m", shard, 1, 2, chunk=1
        )
    rest = CountingWriter()
    T.make_targets(utts, "sift_s", PARAMS, rest, "m", T.merged_cache(cache))
    assert sorted(rest.seen) == sorted(f"Sentence number {i}." for i in (0, 2, 3, 4, 5))  # not item 1


@pytest.mark.slow
@needs_tokenizer
def test_sift_targets_as_two_processes_writes_the_one_process_file(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` of sift-targets on the CPU (RESEARCH.md 3): the
    targets file equals one process's, and the process shards are merged away."""
    llm, tokenizer = tiny_llm()
    folder = tmp_path / "llm"
    llm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    params = json.dumps({**PARAMS, "batch_size": 1, "limit": None, "limit_heldout": None, "device": "cpu"})
    worker = str(ROOT / "tests" / "sift_targets_worker.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1"}
    runs = {
        "one": [sys.executable, worker],
        "two": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--main_process_port", "29534", worker],
    }  # fmt: skip
    for name, cmd in runs.items():
        args = [str(folder), str(tmp_path / f"{name}.jsonl"), str(tmp_path / f"{name}-cache.jsonl"), params]
        proc = subprocess.run(cmd + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "targets sift_s [0/2]" in proc.stderr and "targets sift_s [1/2]" in proc.stderr  # both took part
    one, two = T.read_targets(tmp_path / "one.jsonl"), T.read_targets(tmp_path / "two.jsonl")
    assert len(one) == 9 and two == one
    assert not list(tmp_path.glob("two-cache.jsonl.rank*"))
    assert len(T.TargetCache(tmp_path / "two-cache.jsonl").entries) == 9


def test_cache_key_separates_model_mode_and_input(tmp_path):
    keys = {
        T.cache_key("m1", "sift_s", "", "a", 8),
        T.cache_key("m2", "sift_s", "", "a", 8),
        T.cache_key("m1", "sit_s", "", "a", 8),
        T.cache_key("m1", "sift_s", "", "b", 8),
        T.cache_key("m1", "sift_s", "sys", "a", 8),
        T.cache_key("m1", "sift_s", "", "a", 16),
    }
    assert len(keys) == 6


def test_targets_file_round_trip(tmp_path):
    targets = T.make_targets([utt(1), utt(2, split="test")], "tsit_s", PARAMS, None, "m")
    T.write_targets(tmp_path / "t.jsonl", targets)
    assert T.read_targets(tmp_path / "t.jsonl") == targets
    assert targets[0].target == "The Cat sat." and not targets[0].truncated


# --- tiny LM fixtures ---------------------------------------------------------------------------------------
def tiny_llm():
    """(tiny random Llama, SmolLM2 tokenizer), seeded; tests/sift_ddp_worker.py builds it in each process."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    llm = tiny_llama(
        tokenizer,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return llm, tokenizer


@pytest.fixture(scope="module")
def tiny():
    return tiny_llm()


def model_config(dual: bool, steps_layout="{speech}\n{task}"):
    from speechalign.sift.model import SiftModelConfig

    return SiftModelConfig("tiny", "tiny-encoder", 0 if dual else None, 8, 16, 12, 4, steps_layout)


def feature_store(ids, seed=0):
    from speechalign.sift.features import FeatureStore

    g = torch.Generator().manual_seed(seed)
    lengths = [9 + (i % 4) for i in range(len(ids))]
    offsets = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)))
    sem = torch.randn(sum(lengths), 8, generator=g).half()
    para = torch.randn(sum(lengths), 8, generator=g).half()
    return FeatureStore(list(ids), sem, para, offsets, {"paralinguistic_layer": 0})


@needs_tokenizer
def test_batched_generation_equals_one_at_a_time(tiny):
    from speechalign.backends import chat_prompt

    model, tokenizer = tiny
    prompts = [chat_prompt(tokenizer, "", text) for text in ["hi", "the cat sat on the mat today", "a b c d"]]
    batched = T.generate_greedy(model, tokenizer, prompts, max_new_tokens=6, batch_size=3)
    single = [T.generate_greedy(model, tokenizer, [p], max_new_tokens=6, batch_size=1)[0] for p in prompts]
    assert batched == single
    assert all(g.truncated == (g.new_tokens == 6) for g in batched)


@needs_tokenizer
def test_truncated_targets_get_no_end_token(tiny):
    from speechalign.sift.model import prompt_pieces

    _, tokenizer = tiny
    done = prompt_pieces(tokenizer, "", None, "{speech}\n{task}", "Hello there.", truncated=False)
    cut = prompt_pieces(tokenizer, "", None, "{speech}\n{task}", "Hello there.", truncated=True)
    assert done.response[-1] == tokenizer.eos_token_id
    assert cut.response == done.response[:-1] and tokenizer.eos_token_id not in cut.response
    text = tokenizer.decode(done.before) + "<AUDIO>" + tokenizer.decode(done.after)
    assert text.startswith("<|im_start|>system\n<|im_end|>")  # explicit empty system prompt, no default one
    assert text.endswith("<|im_start|>assistant\n")


@needs_tokenizer
@pytest.mark.parametrize("dual", [False, True])
def test_loss_counts_only_response_tokens(tiny, dual):
    from speechalign.sift.model import IGNORE, Projectors, SiftSpeechLLM, prompt_pieces

    llm, tokenizer = tiny
    config = model_config(dual)
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    pieces = [
        prompt_pieces(tokenizer, "", None, config.layout, "Yes.", truncated=False),
        prompt_pieces(
            tokenizer, "sys", "Describe it.", config.layout, "A longer answer here", truncated=True
        ),
    ]
    sem = [torch.randn(10, 16), torch.randn(13, 16)]
    para = [torch.randn(10, 16), torch.randn(13, 16)] if dual else None
    embeds, mask, labels = model.assemble(pieces, sem, para)  # (B, S, D), (B, S), (B, S)
    for b, p in enumerate(pieces):
        kept = labels[b][labels[b] != IGNORE].tolist()
        assert kept == p.response  # only the response carries labels, in order, at the row's end
        n = int(mask[b].sum())
        assert labels[b, n - len(p.response) : n].tolist() == p.response and (labels[b, n:] == IGNORE).all()
    total, count = model.token_losses(embeds, mask, labels)
    logits = llm(inputs_embeds=embeds, attention_mask=mask).logits
    expected = 0.0
    for b, p in enumerate(pieces):
        n = int(mask[b].sum())
        for k, token in enumerate(p.response):
            pos = n - len(p.response) + k - 1  # the position that predicts this token
            expected -= torch.log_softmax(logits[b, pos], -1)[token].item()
    assert count == sum(len(p.response) for p in pieces)
    assert total.item() == pytest.approx(expected, rel=1e-5)


def test_checkpoint_round_trip(tmp_path):
    from speechalign.sift.model import Projectors, load_projectors, read_checkpoint_config, save_checkpoint

    config = model_config(dual=True)
    projectors = Projectors(config, seed=3)
    save_checkpoint(tmp_path / "ckpt", config, projectors, {"variant": {"name": "x"}})
    assert read_checkpoint_config(tmp_path / "ckpt") == config
    loaded = load_projectors(tmp_path / "ckpt", config)
    frames = [torch.randn(12, 8)]
    a, b = projectors(frames, frames), loaded(frames, frames)
    assert torch.equal(a[0][0], b[0][0]) and torch.equal(a[1][0], b[1][0])
    with pytest.raises(UserFacingError, match="not a SIFT checkpoint"):
        read_checkpoint_config(tmp_path)


# --- training -----------------------------------------------------------------------------------------------
TRAIN_CFG = {
    "steps": 6,
    "batch_size": 4,
    "lr": 0.01,
    "warmup": 2,
    "eval_every": 3,
    "save_every": 2,
    "seed": 0,
    "max_length": 512,
    "val_items": 4,
}


def tiny_run(tiny, state_dir=None, stop_after=None, variant=None, accelerator=None):
    from accelerate import Accelerator

    from speechalign.sift.model import Projectors, SiftSpeechLLM
    from speechalign.sift.train import build_examples, train_loop

    llm, tokenizer = tiny
    variant = variant or {"name": "t", "data": ["sift_s"], "encoders": "dual", "train": ["paralinguistic"]}
    config = model_config(dual=variant["encoders"] == "dual")
    torch.manual_seed(0)
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    ids = [f"u{i}" for i in range(12)]
    store = feature_store(ids)
    targets = [
        T.Target(
            i, "sift_s", "test" if n >= 9 else "train", "", None, "x", f"reply {n} to you", n % 3 == 0, 4
        )
        for n, i in enumerate(ids)
    ]
    frames_of = lambda i: int(store.offsets[store.index[i] + 1] - store.offsets[store.index[i]])  # noqa: E731
    examples, _ = build_examples(targets, tokenizer, config.layout, 512, frames_of, 4, config.dual)
    train_ex = [e for e in examples if e.split == "train"]
    val_ex = [e for e in examples if e.split != "train"]
    accelerator = accelerator or Accelerator(cpu=True)
    return train_loop(model, train_ex, val_ex, store, TRAIN_CFG, variant, accelerator, state_dir, stop_after)


@needs_tokenizer
def test_training_lowers_the_loss_and_freezes_the_stage_one_projector(tiny):
    from speechalign.sift.model import Projectors

    result = tiny_run(tiny)
    vals = [r["val_loss"] for r in result.rows if r["val_loss"] == r["val_loss"]]
    assert vals[-1] < vals[0]
    untouched = Projectors(model_config(dual=True), seed=0).semantic.state_dict()
    for key, value in result.projectors.semantic.state_dict().items():
        assert torch.equal(value, untouched[key])  # stage 2: the semantic projector stays as it was


@needs_tokenizer
def test_resume_after_interruption_equals_an_uninterrupted_run(tiny, tmp_path):
    whole = tiny_run(tiny)
    first = tiny_run(tiny, state_dir=tmp_path / "state", stop_after=3)
    assert first.steps == 3 and (tmp_path / "state" / "trainer.json").is_file()
    resumed = tiny_run(tiny, state_dir=tmp_path / "state")
    assert resumed.steps == 6
    for key, value in whole.projectors.state_dict().items():
        torch.testing.assert_close(resumed.projectors.state_dict()[key], value, rtol=0, atol=0)
    assert [r["step"] for r in resumed.rows] == [r["step"] for r in whole.rows]


@needs_tokenizer
def test_bad_training_setups_fail_with_a_message(tiny):
    single = {"name": "s", "data": ["sift_s"], "encoders": "semantic", "train": ["paralinguistic"]}
    with pytest.raises(UserFacingError, match="single-encoder"):
        tiny_run(tiny, variant=single)


@pytest.mark.slow
@needs_tokenizer
def test_two_processes_reach_the_one_process_result(tiny, tmp_path):
    """The same training as 2 CPU processes (accelerate launch --multi_gpu + Accelerator(cpu=True))."""
    one = tiny_run(
        tiny,
        variant={
            "name": "t",
            "data": ["sift_s"],
            "encoders": "dual",
            "train": ["semantic", "paralinguistic"],
        },
    )
    out = tmp_path / "two.pt"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        "29533",
        str(ROOT / "tests" / "sift_ddp_worker.py"),
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = torch.load(out, weights_only=True)
    assert two["processes"] == 2
    for key, value in one.projectors.state_dict().items():
        torch.testing.assert_close(two["state"][key], value, rtol=1e-4, atol=1e-5)
    ones = [r["val_loss"] for r in one.rows]
    assert json.dumps(two["steps"]) == json.dumps([r["step"] for r in one.rows])
    assert two["val_loss"] == pytest.approx(ones, rel=1e-4, nan_ok=True)


def test_feature_store_round_trip_and_missing_id(tmp_path):
    store = feature_store(["a", "b", "c"])
    store.save(tmp_path / "f.safetensors")
    from speechalign.sift.features import FeatureStore

    loaded = FeatureStore.load(tmp_path / "f.safetensors")
    assert loaded.ids == ["a", "b", "c"] and loaded.meta == store.meta
    for i in store.ids:
        assert all(torch.equal(x, y) for x, y in zip(loaded.frames(i), store.frames(i), strict=True))
    assert loaded.frames("b")[0].shape == (10, 8)
    with pytest.raises(UserFacingError, match="no cached features"):
        loaded.frames("zzz")


def test_sharded_feature_cache_reads_back_every_clip_lazily(tmp_path, monkeypatch):
    """Written a shard at a time (2 utterances each: 3 shards for 5), read back with the same interface as
    the in-memory store; the folder appears only when complete."""
    from speechalign.sift import features as F

    ids = ["a", "b", "c", "d", "e"]
    whole = feature_store(ids)  # what compute_features would give for all five at once
    calls = []

    def fake_compute(part, *args):
        calls.append([u.id for u in part])
        chosen = [whole.index[u.id] for u in part]
        sem = torch.cat([whole.semantic[whole.offsets[i] : whole.offsets[i + 1]] for i in chosen])
        para = torch.cat([whole.paralinguistic[whole.offsets[i] : whole.offsets[i + 1]] for i in chosen])
        lengths = [whole.n_frames(u.id) for u in part]
        offsets = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist())
        return F.FeatureStore([u.id for u in part], sem, para, offsets, whole.meta)

    monkeypatch.setattr(F, "compute_features", fake_compute)
    utts = [SimpleNamespace(id=i) for i in ids]
    F.write_sharded_features(utts, None, None, 0, "enc", tmp_path / "sift", shard_size=2)
    assert calls == [["a", "b"], ["c", "d"], ["e"]]
    assert sorted(p.name for p in (tmp_path / "sift").iterdir()) == [
        "index.json", "shard-00000.safetensors", "shard-00001.safetensors", "shard-00002.safetensors"
    ]  # fmt: skip
    loaded = F.FeatureStore.load(tmp_path / "sift")
    assert isinstance(loaded, F.ShardedFeatureStore)
    assert loaded.ids == ids and loaded.meta == whole.meta and loaded.dim == whole.dim == 8
    for i in ids:
        assert loaded.n_frames(i) == whole.n_frames(i)
        assert all(torch.equal(x, y) for x, y in zip(loaded.frames(i), whole.frames(i), strict=True))
    with pytest.raises(UserFacingError, match="no cached features"):
        loaded.frames("zzz")
    with pytest.raises(UserFacingError, match="no utterances"):
        F.write_sharded_features([], None, None, 0, "enc", tmp_path / "empty", shard_size=2)
    assert not (tmp_path / "empty").exists()


def test_curve_file_has_empty_cells_where_no_validation_ran(tmp_path):
    from speechalign.sift.train import write_curve

    write_curve(
        tmp_path,
        [
            {"step": 0, "train_loss": float("nan"), "val_loss": 2.5, "lr": 0.0},
            {"step": 1, "train_loss": 2.25, "val_loss": float("nan"), "lr": 0.001},
        ],
    )
    lines = (tmp_path / "curve.tsv").read_text().splitlines()
    assert lines == ["step\ttrain_loss\tval_loss\tlr", "0\t\t2.5\t0", "1\t2.25\t\t0.001"]


def test_select_utterances_keeps_the_first_of_each_split():
    utts = [utt(i, split=s) for i, s in enumerate(["train", "test", "train", "train", "test", "test"])]
    assert [u.id for u in T.select_utterances(utts, 2, 1)] == ["u0", "u1", "u2"]
    assert len(T.select_utterances(utts, None, None)) == 6


def test_paired_comparison_of_trained_and_untrained_items():
    from speechalign.sift.evaluate import answer_scores, paired_comparison

    def rows(nll, f1, contains):
        return [
            {"id": f"q{i}", "answer_nll": n, "token_f1": f, "contains_answer": c}
            for i, (n, f, c) in enumerate(zip(nll, f1, contains, strict=True))
        ]

    trained = rows([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0])
    untrained = rows([2.0, 2.0, 5.0, 4.5], [0.0, 0.5, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0])[::-1]  # any order
    result = paired_comparison(trained, untrained, resamples=500, seed=1)
    nll = result["answer_nll"]
    assert result["items"] == 4
    assert nll["difference"] == pytest.approx((-1.0 + 0.0 - 2.0 - 0.5) / 4)
    assert (nll["better"], nll["worse"], nll["ties"], nll["higher_is_better"]) == (3, 0, 1, False)
    assert -2.0 <= nll["low"] <= nll["difference"] <= nll["high"] <= 0.0  # bootstrap means of the diffs
    f1 = result["token_f1"]
    assert f1["difference"] == pytest.approx((0.5 + 0.0 - 0.25 + 1.0) / 4)
    assert (f1["better"], f1["worse"], f1["ties"]) == (2, 1, 1)
    same = paired_comparison(trained, trained)["contains_answer"]
    assert (same["difference"], same["low"], same["high"], same["ties"]) == (0.0, 0.0, 0.0, 4)
    with pytest.raises(UserFacingError, match="other items"):
        paired_comparison(trained, untrained[1:])
    assert answer_scores("She is forty-two.", "42") == {
        "contains_answer": 1.0,
        "token_f1": pytest.approx(2 / 3),
    }
    assert answer_scores("", "42") == {"contains_answer": 0.0, "token_f1": 0.0}  # empty: wrong


def test_device_and_dtype_resolution():
    from speechalign.backends.device import autocast, resolve_device, resolve_dtype

    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    with pytest.raises(UserFacingError, match="sees no GPU"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(UserFacingError, match="one of auto, cpu, cuda"):
        resolve_device("gpu")
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(UserFacingError, match="dtype must be"):
        resolve_dtype("fp16", torch.device("cpu"))
    layer = torch.nn.Linear(4, 4)
    with autocast(torch.device("cpu"), torch.float32):
        assert layer(torch.ones(1, 4)).dtype == torch.float32
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16


@needs_tokenizer
def test_training_on_the_cpu_in_float32_and_in_bf16_autocast(tiny):
    """The trainer's Accelerator follows train.device / train.dtype; bf16 autocast trains to nearly the
    same losses as float32 (not exactly: the autocast really ran)."""
    from accelerate.state import AcceleratorState

    from speechalign.sift.train import make_accelerator

    runs = {}
    try:
        for dtype in ("auto", "bfloat16"):
            AcceleratorState._reset_state(True)  # the accelerator state is a per-process singleton
            accelerator = make_accelerator({"device": "cpu", "dtype": dtype})
            assert accelerator.device == torch.device("cpu")
            assert accelerator.mixed_precision == ("no" if dtype == "auto" else "bf16")
            runs[dtype] = [r["val_loss"] for r in tiny_run(tiny, accelerator=accelerator).rows]
    finally:
        AcceleratorState._reset_state(True)
    fp32, bf16 = (torch.tensor(runs[k]) for k in ("auto", "bfloat16"))
    assert torch.isfinite(fp32).sum() == torch.isfinite(bf16).sum() >= 2
    both = torch.isfinite(fp32)
    assert torch.allclose(bf16[both], fp32[both], atol=0.05) and not torch.equal(bf16[both], fp32[both])
    if not torch.cuda.is_available():
        with pytest.raises(UserFacingError, match="sees no GPU"):
            make_accelerator({"device": "cuda", "dtype": "auto"})


def test_resemblyzer_lock_kind_provisions_the_speaker_lstm_as_safetensors(tmp_path):
    """A wheel laid out like Resemblyzer==0.1.4's (random weights of the real shapes) provisions into
    speaker_lstm.safetensors, which loads into the probe's network and gives the same embeddings."""
    from speechalign.models.lock import LockedModel
    from speechalign.models.provision import provision
    from speechalign.sift.paralinguistic import SpeakerLSTM
    from test_models_provision import build_wheel

    torch.manual_seed(0)
    original = SpeakerLSTM()
    state = {f"{k}": v for k, v in original.state_dict().items()} | {"similarity_weight": torch.ones(1)}
    pretrained = tmp_path / "pretrained.pt"
    torch.save({"model_state": state, "step": 1}, pretrained)
    wheel = build_wheel(
        tmp_path / "index", "Resemblyzer", "0.1.4", {"resemblyzer/pretrained.pt": pretrained.read_bytes()}
    )
    model = LockedModel(
        "resemblyzer", "resemblyzer", "", (wheel,), {"pretrained.pt": ("resemblyzer/pretrained.pt",)}
    )
    out = provision(
        model, tmp_path / "models" / "resemblyzer", tmp_path / "cache", find_links=str(tmp_path / "index")
    )
    assert (out / "speaker_lstm.safetensors").is_file() and (out / "provenance.json").is_file()
    mels = torch.randn(1, 20, 40)
    for source in (out, pretrained):  # the provisioned folder and the original file load the same network
        loaded = SpeakerLSTM.from_resemblyzer_weights(source)
        torch.testing.assert_close(loaded.frame_embeddings(mels), original.frame_embeddings(mels))
    with pytest.raises(UserFacingError, match="is missing"):
        SpeakerLSTM.from_resemblyzer_weights(tmp_path / "nowhere")
