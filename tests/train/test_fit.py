"""SIFT training on the tiny LM: the loss falls with the stage-1 projector frozen, resume equals an
uninterrupted run, bad setups fail clearly, 2 CPU processes reach the 1-process result, the curve file, and
the CPU in float32 and in bf16 autocast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_sift import model_config, needs_tokenizer, tiny_run

from speechalign.backends.checkpoint import Projectors
from speechalign.errors import UserFacingError
from speechalign.train.fit import make_accelerator, write_curve

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"


@needs_tokenizer
def test_training_lowers_the_loss_and_freezes_the_stage_one_projector(tiny):
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
    env = {**os.environ, "PYTHONPATH": str(SUPPORT), "OMP_NUM_THREADS": "1"}
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
        str(SUPPORT / "sift_ddp_worker.py"),
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


def test_curve_file_has_empty_cells_where_no_validation_ran(tmp_path):
    write_curve(
        tmp_path,
        [
            {"step": 0, "train_loss": float("nan"), "val_loss": 2.5, "lr": 0.0},
            {"step": 1, "train_loss": 2.25, "val_loss": float("nan"), "lr": 0.001},
        ],
    )
    lines = (tmp_path / "curve.tsv").read_text().splitlines()
    assert lines == ["step\ttrain_loss\tval_loss\tlr", "0\t\t2.5\t0", "1\t2.25\t\t0.001"]


@needs_tokenizer
def test_training_on_the_cpu_in_float32_and_in_bf16_autocast(tiny):
    """The trainer's Accelerator follows train.device / train.dtype; bf16 autocast trains to nearly the
    same losses as float32 (not exactly: the autocast really ran)."""
    from accelerate.state import AcceleratorState

    from speechalign.backends.device import cpu_has_bf16_units

    runs = {}
    try:
        for dtype in ("auto", "float32", "bfloat16"):
            AcceleratorState._reset_state(True)  # the accelerator state is a per-process singleton
            accelerator = make_accelerator({"device": "cpu", "dtype": dtype})
            assert accelerator.device == torch.device("cpu")
            # auto follows the CPU: bf16 autocast where it has bf16 units (backends/device.py)
            autocast = dtype == "bfloat16" or (dtype == "auto" and cpu_has_bf16_units())
            assert accelerator.mixed_precision == ("bf16" if autocast else "no")
            if dtype != "auto":
                runs[dtype] = [r["val_loss"] for r in tiny_run(tiny, accelerator=accelerator).rows]
    finally:
        AcceleratorState._reset_state(True)
    fp32, bf16 = (torch.tensor(runs[k]) for k in ("float32", "bfloat16"))
    assert torch.isfinite(fp32).sum() == torch.isfinite(bf16).sum() >= 2
    both = torch.isfinite(fp32)
    assert torch.allclose(bf16[both], fp32[both], atol=0.05) and not torch.equal(bf16[both], fp32[both])
    if not torch.cuda.is_available():
        with pytest.raises(UserFacingError, match="sees no GPU"):
            make_accelerator({"device": "cuda", "dtype": "auto"})


def target(mode, text, system="", instruction=None, truncated=False):
    from speechalign.sift.targets import Target

    return Target("u0", mode, "train", system, instruction, "x", text, truncated, 4)


@needs_tokenizer
def test_an_example_over_max_length_is_cut_like_the_authors_not_dropped(tiny):
    """The authors' trainer keeps the first max_length positions: the response is cut and has no end token.
    A short and a long target of one utterance are both kept, so the modes see the same items."""
    from speechalign.train.fit import build_examples
    from speechalign.train.model import prompt_pieces

    _, tokenizer = tiny
    layout, frames = "{speech}\n{task}", 10  # 10 frames, stack 4: 2 audio positions
    long, short = "a long answer " * 20, "yes."
    full = prompt_pieces(tokenizer, "", None, layout, long, False)
    prompt = len(full.before) + 2 + len(full.after)
    examples, counts = build_examples(
        [target("sift_s", long), target("tsit_s", short)],
        tokenizer,
        layout,
        prompt + 5,
        lambda i: frames,
        4,
        False,
    )
    assert [e.mode for e in examples] == ["sift_s", "tsit_s"]
    assert (
        examples[0].pieces.response == full.response[:5] and tokenizer.eos_token_id not in full.response[:5]
    )
    assert examples[1].pieces.response[-1] == tokenizer.eos_token_id  # it fits: kept whole, with its end
    assert counts == {"empty_target": 0, "prompt_over_max_length": 0, "response_truncated": 1}
    none, counts = build_examples(
        [target("sift_s", long)], tokenizer, layout, prompt, lambda i: frames, 4, False
    )
    assert none == [] and counts["prompt_over_max_length"] == 1  # no room for one response token


def test_targets_with_another_system_prompt_than_inference_are_refused():
    from speechalign.train.fit import require_speech_system

    require_speech_system([target("sift_ssp", "hi", system="helpful")], "helpful", "sift_ssp")
    with pytest.raises(UserFacingError, match="rebuild them"):
        require_speech_system([target("sift_ssp", "hi", system="a virtual human")], "helpful", "sift_ssp")
