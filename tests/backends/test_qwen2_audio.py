"""Qwen2-Audio end to end on a tiny random config: processor assembly, spans, prefill, generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tone

from speechalign.backends import BackendInputError

TASK = "What is the speaker's emotion? Answer with one word among anger, happiness, sadness, neutrality."


def test_processor_has_the_audio_tokens(tiny_qwen2_audio):
    vocab = tiny_qwen2_audio.tokenizer.get_vocab()
    assert {"<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"} <= set(vocab)
    assert tiny_qwen2_audio.frame_seconds == 0.04


@pytest.mark.parametrize("seconds, expected_tokens", [(1.0, 25), (2.4, 60)])
def test_audio_span_is_the_run_of_audio_tokens_at_40_ms(tiny_qwen2_audio, seconds, expected_tokens):
    run = tiny_qwen2_audio.audio_run(tone(seconds), TASK)
    ids = run.payload["input_ids"][0]
    start, stop = run.span
    assert stop - start == expected_tokens
    assert (ids[start:stop] == tiny_qwen2_audio.audio_token_id).all()
    assert ids[start - 1] == tiny_qwen2_audio.tokenizer.convert_tokens_to_ids("<|audio_bos|>")
    assert ids[stop] == tiny_qwen2_audio.tokenizer.convert_tokens_to_ids("<|audio_eos|>")


@pytest.mark.parametrize("words", [3, 60])  # shorter and longer than the 25 audio tokens of 1 s
def test_text_span_and_prefill(tiny_qwen2_audio, words):
    transcript = " ".join(["hello"] * words)
    text = tiny_qwen2_audio.text_run(transcript, TASK)
    audio = tiny_qwen2_audio.audio_run(tone(1.0), TASK)
    decoded = tiny_qwen2_audio.tokenizer.decode(text.payload["input_ids"][0, text.span[0] : text.span[1]])
    assert decoded.strip() == transcript
    text_states = tiny_qwen2_audio.prefill(text)
    audio_states = tiny_qwen2_audio.prefill(audio)
    assert text_states.shape == (3, text.span_length, 32)
    assert audio_states.shape == (3, 25, 32)
    assert (text.span_length > audio.span_length) == (words == 60)
    assert torch.isfinite(audio_states).all()


def test_audio_positions_carry_the_projected_audio(tiny_qwen2_audio):
    """Layer 0 of the audio span is the multi-modal projector's output, not the <|AUDIO|> embedding."""
    run = tiny_qwen2_audio.audio_run(tone(1.0), TASK)
    states = tiny_qwen2_audio.prefill(run)
    placeholder = tiny_qwen2_audio.model.get_input_embeddings().weight[tiny_qwen2_audio.audio_token_id]
    assert not torch.allclose(states[0], placeholder.expand_as(states[0]))


def test_generation_batched_equals_single(tiny_qwen2_audio):
    runs = [tiny_qwen2_audio.audio_run(tone(s), TASK) for s in (0.7, 1.3)]
    runs.append(tiny_qwen2_audio.text_run("I am so glad to see you", TASK))
    batched = tiny_qwen2_audio.generate(runs, max_new_tokens=5, batch_size=2)
    single = [tiny_qwen2_audio.generate([r], max_new_tokens=5)[0] for r in runs]
    assert batched == single
    assert all(isinstance(a, str) and a for a in batched)


def test_bad_inputs(tiny_qwen2_audio):
    with pytest.raises(BackendInputError, match="longer than"):
        tiny_qwen2_audio.audio_run(tone(31.0), TASK)
    with pytest.raises(BackendInputError, match="NaN"):
        tiny_qwen2_audio.audio_run(np.array([0.0, np.nan] * 8000, dtype=np.float32), TASK)
    with pytest.raises(BackendInputError, match="empty transcript"):
        tiny_qwen2_audio.text_run("", TASK)


def test_inputs_move_to_the_model_in_its_precision(tiny_qwen2_audio):
    """Runs keep CPU float32 tensors; the model gets them on its device, mel features in its dtype (a bf16
    model on a GPU would otherwise reject float32 features), ids untouched."""
    run = tiny_qwen2_audio.audio_run(tone(1.0), TASK)
    tensors = {k: v for k, v in run.payload.items() if isinstance(v, torch.Tensor)}
    tiny_qwen2_audio.model.to(torch.bfloat16)
    try:
        moved = tiny_qwen2_audio._on_model(tensors)
    finally:
        tiny_qwen2_audio.model.to(torch.float32)
    assert moved["input_features"].dtype == torch.bfloat16
    assert moved["input_ids"].dtype == torch.long
    assert torch.equal(moved["input_ids"], tensors["input_ids"])
    assert run.payload["input_features"].dtype == torch.float32  # the run itself is unchanged
