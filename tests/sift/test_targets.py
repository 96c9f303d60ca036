"""SIFT targets: the format per mode, truncation, the resumable cache, process shards and their merge, and
1- vs 2-process equivalence of `speechalign sift targets`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from tiny_sift import needs_tokenizer, tiny_llm

from speechalign.errors import UserFacingError
from speechalign.sift import targets as T

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"

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
    # the instruction follows the content after a space, as in the paper's appendix A and the authors' script
    assert T.writer_prompt(u, "sit_s", PARAMS) == (
        "",
        "Repeat the above content.",
        "The Cat sat. Repeat the above content.",
    )
    assert T.writer_prompt(u, "sift_sp", PARAMS) == ("", None, meta)
    sit = "Describe all information you can hear."
    assert T.writer_prompt(u, "sit_sp", PARAMS) == ("", sit, f"{meta} {sit}")
    assert T.writer_prompt(u, "sift_ssp", PARAMS) == ("You are a real human.", None, meta)
    assert T.writer_prompt(u, "sit_ssp", PARAMS) == ("You are a real human.", sit, f"{meta} {sit}")
    system, instruction, user = T.writer_prompt(u, "tsit_s", PARAMS)
    assert (system, user) == ("", "The Cat sat.") and instruction in PARAMS["asr_instructions"]


@pytest.mark.parametrize("mode", ["sift_ssp", "sit_ssp"])
def test_the_ssp_system_prompt_reaches_the_writer_only(mode):
    """Paper, Section 5.7 and Figure 4: the system prompt shapes the targets the frozen LLM writes; the
    speech prompt a target trains (and the model is evaluated) with has the backends' system prompt."""
    params = {**PARAMS, "system_prompt": "You are a helpful assistant."}
    writer = CountingWriter()
    seen = []
    (target,) = T.make_targets([utt()], mode, params, lambda pairs: seen.extend(pairs) or writer(pairs), "m")
    assert seen[0][0] == "You are a real human."  # the writer's system prompt
    assert target.system == "You are a helpful assistant."  # the speech prompt's, not the writer's
    assert target.writer_system == "You are a real human."
    (plain,) = T.make_targets([utt()], "sift_sp", params, CountingWriter(), "m")
    assert plain.system == target.system  # no mode trains under another system prompt


def test_the_ssp_system_prompt_is_the_papers():
    from speechalign.params import load_params

    paper = (
        "You are a powerful virtual human who is capable of perceiving both text and speech inputs and"
        " generate precise natural responses. Speech inputs will be wrapped by <audio> and </audio> tags,"
        " containing both the text transcription and paralinguistic information. You must always pretend that"
        " you can indeed hear the input audios. NEVER mention that any metadata is provided through texts,"
        " and only use them in your response when necessary."
    )  # appendix A (SIT_ssp, SIFT_ssp), as printed
    assert load_params(ROOT)["sift"]["virtual_human_prompt"] == paper


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


def test_select_utterances_keeps_the_first_of_each_split():
    utts = [utt(i, split=s) for i, s in enumerate(["train", "test", "train", "train", "test", "test"])]
    assert [u.id for u in T.select_utterances(utts, 2, 1)] == ["u0", "u1", "u2"]
    assert len(T.select_utterances(utts, None, None)) == 6


def hf_greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """The reference: transformers' own greedy ``generate``, one prompt at a time, new tokens only."""
    import torch

    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False).input_ids])
    out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0)
    return out[0, ids.shape[1] :].tolist()


@needs_tokenizer
@pytest.mark.parametrize(("batch_size", "group"), [(1, 16), (2, 16), (8, 16), (8, 2), (8, 3)])
def test_fast_generation_gives_the_tokens_of_one_at_a_time_generate(batch_size, group, monkeypatch):
    """The shared prefix computed once, prompts prefilled in groups (``group``) and padded after the prefix,
    finished rows leaving the batch: the same tokens as transformers' generate on each prompt alone, in
    order."""
    from speechalign.backends import chat_prompt

    monkeypatch.setattr(T, "PREFILL_GROUP", group)

    model, tokenizer = tiny_llm()
    texts = ["hi", "the cat sat on the mat today", "a b c d", "one more prompt of middling length"]
    prompts = [chat_prompt(tokenizer, "You are a helpful assistant.", text) for text in texts]
    reference = [hf_greedy(model, tokenizer, p, 8) for p in prompts]
    # one prompt ends early (its third token is made an end token), so its row leaves the batch mid-way
    early = reference[1][2]
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, early]
    ends = T.end_token_ids(tokenizer, model)
    expected = [T.split_generation(hf_greedy(model, tokenizer, p, 8), ends, tokenizer) for p in prompts]
    assert expected[1].new_tokens == 2 and not expected[1].truncated
    assert T.generate_greedy(model, tokenizer, prompts, max_new_tokens=8, batch_size=batch_size) == expected
    assert len(T.shared_prefix([tokenizer(p).input_ids for p in prompts])) > 5  # the system turn


def test_generation_refuses_a_config_that_changes_greedy_decoding():
    model = SimpleNamespace(generation_config=SimpleNamespace(repetition_penalty=1.2))
    with pytest.raises(UserFacingError, match="repetition_penalty"):
        T.check_plain_greedy(model)
    T.check_plain_greedy(SimpleNamespace(generation_config=SimpleNamespace(repetition_penalty=1.0)))


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
    from speechalign.sift import cli

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
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["targets", "--manifest", "m", "--mode", "sift_s", "--out", str(tmp_path / "t.jsonl"),
         "--cache", str(cache), "--llm", str(llm), "--sift-params", json.dumps(params),
         "--backends-params", '{"system_prompt": ""}']
    )  # fmt: skip
    cli.run(args)  # every target cached: from_pretrained is never called
    assert [t.target for t in T.read_targets(tmp_path / "t.jsonl")] == [
        f"answer to Sentence number {i}." for i in range(4)
    ]
    utts.append(utt(9, text="Not cached yet."))
    with pytest.raises(Loaded):  # one missing target: now the LLM is loaded
        cli.run(args)


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
    """`accelerate launch --multi_gpu --num_processes 2` of `sift targets` on the CPU (RESEARCH.md 3): the
    targets file equals one process's, and the process shards are merged away."""
    llm, tokenizer = tiny_llm()
    folder = tmp_path / "llm"
    llm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    params = json.dumps({**PARAMS, "batch_size": 1, "limit": None, "limit_heldout": None, "device": "cpu"})
    worker = str(SUPPORT / "sift_targets_worker.py")
    env = {**os.environ, "PYTHONPATH": str(SUPPORT), "OMP_NUM_THREADS": "1"}
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
