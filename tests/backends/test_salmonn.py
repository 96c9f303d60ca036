"""SALMONN end to end on a tiny random config (tests/support/tiny_salmonn.py): windows and timing counted on
the real code path, spans, prefill, the shared LoRA LLM, generation, release-layout checkpoints, loading by
spec."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from tiny_models import tone
from tiny_salmonn import tiny_salmonn
from torch.nn import functional as F

from speechalign.backends import BackendInputError
from speechalign.backends.prompts import SPEECH_MARKER, split_at_marker, user_message
from speechalign.backends.qformer import WindowQFormer
from speechalign.backends.salmonn import SalmonnSpeechLLM, read_checkpoint, save_checkpoint
from speechalign.errors import UserFacingError

TASK = "What is the emotion of the speaker? Answer with one word among anger, happiness, sadness, neutrality."


@pytest.fixture(scope="module")
def salmonn():
    return tiny_salmonn()


def test_windows_are_the_releases(salmonn):
    """round(1500 * 0.333333 / 30) = 17 positions per window and per stride: 88 windows over Whisper's 1500
    positions (the release's F.unfold reading gives the same windows in the same order)."""
    assert (salmonn.kernel, salmonn.stride, salmonn.num_windows) == (17, 17, 88)
    ramp = torch.arange(1500.0)[None, :, None].expand(2, -1, 3)  # (B, T, C): position index on every feature
    windows = WindowQFormer.windows(ramp, 17, 17)  # (B, L, K, C)
    assert windows.shape == (2, 88, 17, 3)
    assert torch.equal(windows[0, :, :, 0], torch.arange(88 * 17.0).view(88, 17))
    unfolded = F.unfold(ramp.transpose(1, 2).unsqueeze(2), kernel_size=(1, 17), stride=(1, 17))  # (B, C*K, L)
    release = unfolded.view(2, 3, 17, -1).permute(0, 3, 2, 1)  # (B, L, K, C), as models/salmonn.py
    assert torch.equal(windows, release)


def test_frame_timing(salmonn):
    """Window j: Whisper positions [17j, 17j + 17) at 20 ms each, centred at 340j + 160 ms, which
    row_times' ``offset + (j + 0.5) * frame`` gives with frame 0.34 s and offset -0.01 s."""
    assert salmonn.frame_seconds == pytest.approx(0.34)
    assert salmonn.offset_seconds == pytest.approx(-0.01)
    centres = salmonn.offset_seconds + (np.arange(88) + 0.5) * salmonn.frame_seconds
    np.testing.assert_allclose(centres, 0.02 * (17 * np.arange(88) + 8))


@pytest.mark.parametrize("seconds, speech_windows", [(0.5, 2), (1.0, 3), (3.4, 10), (5.0, 15)])
def test_audio_run_positions(salmonn, seconds, speech_windows):
    """All 88 windows enter the LLM whatever the length (counted from the connector's real output); the span
    is the windows that start before the audio ends (0.5 s: padded to 1 s as released, yet 2 windows)."""
    run = salmonn.audio_run(tone(seconds), TASK)
    before, after = split_at_marker(user_message(salmonn.audio_layout, SPEECH_MARKER, TASK))
    n_before = 1 + len(salmonn.tokenizer(before, add_special_tokens=False).input_ids)  # <s> first
    n_after = len(salmonn.tokenizer(after, add_special_tokens=False).input_ids)
    assert run.payload["windows"] == 88
    assert run.length == n_before + 88 + n_after
    assert run.span == (n_before, n_before + speech_windows)
    starts = np.arange(speech_windows + 1) * salmonn.stride * 0.02  # window start times
    assert starts[-2] < seconds <= starts[-1]


def test_audio_span_carries_the_connector_output(salmonn):
    """Layer 0 of the prefill on the span is the Q-Former + projection output of the speech windows."""
    wave = tone(1.0)
    run = salmonn.audio_run(wave, TASK)
    states = salmonn.prefill(run)  # (L+1, 3, D)
    speech, count = salmonn.speech_embeddings(wave)
    assert states.shape == (salmonn.num_hidden_states, 3, 32) and count == 3
    torch.testing.assert_close(states[0], speech[0, :3])
    assert torch.isfinite(states).all()


@pytest.mark.parametrize("words", [3, 60])  # fewer and more tokens than the 3 speech windows of 1 s
def test_text_span_and_prefill(salmonn, words):
    transcript = " ".join(["hello"] * words)
    run = salmonn.text_run(transcript, TASK)
    ids = salmonn.tokenizer(
        "USER: <Text>" + transcript + "</Text>" + TASK + "\nASSISTANT:", add_special_tokens=False
    ).input_ids
    assert run.length == 1 + len(ids)
    span_ids = ids[run.span[0] - 1 : run.span[1] - 1]  # the run starts with <s>
    assert salmonn.tokenizer.decode(span_ids).strip() == transcript
    assert len(run.token_char_spans) == run.span_length
    states = salmonn.prefill(run)
    assert states.shape == (salmonn.num_hidden_states, run.span_length, 32)


def test_both_runs_read_the_same_lora_llm(salmonn):
    """The LoRA adapters act in both runs: switched off, both runs' upper layers change; layer 0 (the input
    embeddings) does not."""
    runs = [salmonn.audio_run(tone(1.0), TASK), salmonn.text_run("the cat sat on the mat", TASK)]
    adapted = [salmonn.prefill(run) for run in runs]
    with salmonn.llm.disable_adapter():
        plain = [salmonn.prefill(run) for run in runs]
    for with_lora, without in zip(adapted, plain, strict=True):
        torch.testing.assert_close(with_lora[0], without[0])
        assert not torch.allclose(with_lora[-1], without[-1])


def test_generation_batched_equals_single(salmonn):
    runs = [salmonn.audio_run(tone(s), TASK) for s in (0.7, 1.3)]
    runs.append(salmonn.text_run("I am so glad to see you", TASK))
    batched = salmonn.generate(runs, max_new_tokens=5, batch_size=2)
    single = [salmonn.generate([r], max_new_tokens=5)[0] for r in runs]
    assert batched == single
    assert all(isinstance(a, str) for a in batched) and any(batched)


@pytest.mark.parametrize("name", ["salmonn.safetensors", "salmonn.pth"])
def test_checkpoint_round_trips(salmonn, tmp_path, name):
    """Save the connector + LoRA in the release layout, load into a differently seeded model: same states."""
    save_checkpoint(salmonn, tmp_path / name)
    state, config = read_checkpoint(tmp_path / name)
    assert config == salmonn.config
    assert "speech_Qformer.bert.encoder.layer.1.crossattention.self.key.weight" in state
    assert "llama_model.base_model.model.model.layers.0.self_attn.v_proj.lora_B.default.weight" in state
    other = tiny_salmonn(seed=1, lora_noise=0.0)
    wave, transcript = tone(1.0), "the cat sat on the mat"
    assert not torch.allclose(
        other.prefill(other.audio_run(wave, TASK)), salmonn.prefill(salmonn.audio_run(wave, TASK))
    )
    other.load_release_state(state)
    for build in ("audio_run", "text_run"):
        data = wave if build == "audio_run" else transcript
        torch.testing.assert_close(
            other.prefill(getattr(other, build)(data, TASK)),
            salmonn.prefill(getattr(salmonn, build)(data, TASK)),
        )


def test_a_release_checkpoint_loads(salmonn, tmp_path):
    """The release's torch.save({'model': ...}) of a whole SALMONN: LoRA keys from an older peft (no adapter
    name), unused Q-Former text parts and frozen encoder/LLM weights beside the trained ones; no config."""
    state = salmonn.release_state()
    state = {k.replace(".default.weight", ".weight"): v for k, v in state.items()}
    state |= {
        "speech_Qformer.bert.embeddings.position_ids": torch.arange(512)[None],
        "speech_Qformer.bert.encoder.layer.0.intermediate.dense.weight": torch.zeros(64, 32),
        "speech_Qformer.bert.encoder.layer.0.output.LayerNorm.weight": torch.zeros(32),
        "speech_encoder.layers.0.fc1.weight": torch.zeros(2, 2),
        "beats.encoder.layer_norm.weight": torch.zeros(2),
        "llama_model.base_model.model.model.embed_tokens.weight": torch.zeros(2, 2),
    }
    torch.save({"model": state, "optimizer": {}, "epoch": 3}, tmp_path / "salmonn_v1.pth")
    loaded, config = read_checkpoint(tmp_path / "salmonn_v1.pth")
    assert config is None  # the caller then uses the release's SalmonnConfig
    other = tiny_salmonn(seed=2, lora_noise=0.0)
    other.load_release_state(loaded)
    run = salmonn.text_run("the cat sat on the mat", TASK)
    torch.testing.assert_close(
        other.prefill(other.text_run("the cat sat on the mat", TASK)), salmonn.prefill(run)
    )


def test_incomplete_or_unknown_checkpoints_fail_loudly(salmonn):
    state = salmonn.release_state()
    other = tiny_salmonn(seed=2, lora_noise=0.0)
    without_proj = {k: v for k, v in state.items() if not k.startswith("speech_llama_proj.")}
    with pytest.raises(UserFacingError, match="speech_llama_proj"):
        other.load_release_state(without_proj)
    without_lora = {k: v for k, v in state.items() if "lora_A" not in k}
    with pytest.raises(UserFacingError, match="LoRA"):
        other.load_release_state(without_lora)
    with pytest.raises(UserFacingError, match="no known part"):
        other.load_release_state(state | {"mystery.weight": torch.zeros(1)})


def test_a_non_weights_only_pickle_is_refused(salmonn, tmp_path):
    """A checkpoint that needs arbitrary unpickling (an argparse.Namespace beside the weights) is refused
    before anything in it runs."""
    torch.save({"model": salmonn.release_state(), "args": argparse.Namespace(lr=1e-4)}, tmp_path / "ckpt.pth")
    with pytest.raises(UserFacingError, match="weights_only"):
        read_checkpoint(tmp_path / "ckpt.pth")


def test_from_spec_loads_every_part_from_files(salmonn, tmp_path):
    """Whisper and LLM folders (HF format), BEATs and SALMONN checkpoint files: the fixture's model again."""
    from tiny_models import tiny_llama
    from transformers import WhisperConfig, WhisperModel

    from speechalign.backends.beats import save_beats

    whisper = WhisperModel(WhisperConfig(**salmonn.whisper.config.to_dict()))
    whisper.encoder.load_state_dict(salmonn.whisper.state_dict())
    whisper.save_pretrained(tmp_path / "whisper")
    salmonn.feature_extractor.save_pretrained(tmp_path / "whisper")
    tiny_llama(salmonn.tokenizer).save_pretrained(tmp_path / "llm")  # the fixture's LLM before LoRA (seed 0)
    salmonn.tokenizer.save_pretrained(tmp_path / "llm")
    save_beats(salmonn.beats, tmp_path / "beats.safetensors")
    save_checkpoint(salmonn, tmp_path / "salmonn.safetensors")
    spec = {
        "kind": "salmonn",
        "encoder": str(tmp_path / "whisper"),
        "llm": str(tmp_path / "llm"),
        "beats": str(tmp_path / "beats.safetensors"),
        "checkpoint": str(tmp_path / "salmonn.safetensors"),
        "device": "cpu",
        "dtype": "float32",
        "system_prompt": "ignored: SALMONN has no system turn",
        "layout": "{speech}\n{task}",
    }
    loaded = SalmonnSpeechLLM.from_spec(spec, seed=5)
    wave = tone(1.0)
    torch.testing.assert_close(
        loaded.prefill(loaded.audio_run(wave, TASK)), salmonn.prefill(salmonn.audio_run(wave, TASK))
    )
    with pytest.raises(UserFacingError, match="not a file"):
        SalmonnSpeechLLM.from_spec(spec | {"beats": str(tmp_path / "missing.pt")})


def test_bad_inputs(salmonn):
    with pytest.raises(BackendInputError, match="longer than"):
        salmonn.audio_run(tone(31.0), TASK)
    with pytest.raises(BackendInputError, match="NaN"):
        salmonn.audio_run(np.array([0.0, np.nan] * 8000, dtype=np.float32), TASK)
    with pytest.raises(BackendInputError, match="empty transcript"):
        salmonn.text_run("", TASK)


def test_bfloat16_whisper_and_llm():
    """As on a GPU (dtype auto): Whisper and the LLM in bfloat16, BEATs and the connector in float32."""
    model = tiny_salmonn()
    model.whisper.to(torch.bfloat16)
    model.llm.to(torch.bfloat16)
    run = model.audio_run(tone(1.0), TASK)
    assert run.payload["inputs_embeds"].dtype == torch.bfloat16
    states = model.prefill(run)
    assert states.dtype == torch.float32 and torch.isfinite(states).all()
    assert len(model.generate([run, model.text_run("the cat sat", TASK)], max_new_tokens=3)) == 2
