"""The composed backend on tiny random models: spans, prefill, generation, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_whisper_encoder, tone

from speechalign.backends import BackendInputError, Projector, ProjectorConfig, encode_unpadded

TASK = "What is this about? Answer in 10-15 words."


def test_audio_span_holds_exactly_the_projected_audio(tiny_composed):
    wave = tone(1.0)  # 100 mel frames -> 50 encoder positions -> 12 LM positions (2 dropped)
    run = tiny_composed.audio_run(wave, TASK)
    start, stop = run.span
    assert stop - start == 12
    audio = tiny_composed.audio_embeddings(wave)[0]  # (12, D)
    assert torch.equal(run.payload["inputs_embeds"][0, start:stop], audio)
    # the positions just outside the span are prompt tokens, not audio
    embed = tiny_composed.llm.get_input_embeddings().weight
    for outside in (start - 1, stop):
        row = run.payload["inputs_embeds"][0, outside]
        assert (embed == row).all(dim=1).any()


@pytest.mark.parametrize("seconds, words", [(0.5, 40), (4.0, 2)])  # transcript longer / shorter than audio
def test_text_span_is_the_transcript_whatever_the_lengths(tiny_composed, seconds, words):
    transcript = " ".join(["several"] * words)
    audio_run = tiny_composed.audio_run(tone(seconds), TASK)
    text_run = tiny_composed.text_run(transcript, TASK)
    start, stop = text_run.span
    ids = tiny_composed.tokenizer(transcript, add_special_tokens=False).input_ids
    prompt_ids = tiny_composed.tokenizer(
        tiny_composed._prompt_halves(TASK)[0] + transcript, add_special_tokens=False
    ).input_ids
    assert prompt_ids[start:stop] == ids
    assert text_run.token_char_spans.shape == (len(ids), 2)
    assert text_run.token_char_spans[-1, 1] == len(transcript)
    # both runs share the prompt before the speech, so the spans start at the same index
    assert audio_run.span[0] == start
    longer = (stop - start) > audio_run.span_length
    assert longer == (words == 40)


def test_prefill_keeps_every_layer_on_the_span_only(tiny_composed):
    run = tiny_composed.audio_run(tone(1.2), TASK)
    states = tiny_composed.prefill(run)
    assert states.shape == (tiny_composed.num_hidden_states, run.span_length, 32)
    # layer 0 is the embedding output: the projected audio itself
    assert torch.allclose(states[0], run.payload["inputs_embeds"][0, run.span[0] : run.span[1]])
    full = tiny_composed.llm(inputs_embeds=run.payload["inputs_embeds"], output_hidden_states=True)
    assert torch.allclose(states[-1], full.hidden_states[-1][0, run.span[0] : run.span[1]], atol=1e-5)


def test_encoder_unpadded_matches_padded_whisper_on_a_full_window():
    encoder = tiny_whisper_encoder().eval()
    mel = torch.randn(1, 80, 3000)
    with torch.inference_mode():
        reference = encoder(mel).last_hidden_state
        ours = encode_unpadded(encoder, mel)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_batched_generation_equals_one_at_a_time(tiny_composed):
    runs = [tiny_composed.audio_run(tone(s), TASK) for s in (0.6, 1.5)]
    runs.append(tiny_composed.text_run("the cat sat on the mat", TASK))
    batched = tiny_composed.generate(runs, max_new_tokens=6, batch_size=3)
    single = [tiny_composed.generate([r], max_new_tokens=6)[0] for r in runs]
    assert batched == single
    assert all(isinstance(a, str) for a in batched)


def test_answers_scored_from_their_own_prefill_equal_generation_and_a_separate_forward(tiny_composed):
    """One forward per batch serves the prefill and the NLLs: the same answers as plain generation, and each
    NLL as the behaviour match's separate forward gives it, across left-padded rows of different lengths."""
    from speechalign.backends.base import length_batches
    from speechalign.evaluate.behaviour import nll_scorer

    runs = [tiny_composed.audio_run(tone(s), TASK) for s in (0.6, 1.5, 1.0)]
    runs.append(tiny_composed.text_run("the cat sat on the mat", TASK))
    texts = ["A tone.", None, "A longer answer about what was heard, with more tokens.", "Ok"]
    plain = tiny_composed.generate(runs, max_new_tokens=6, batch_size=4)
    answers, scored = tiny_composed.generate_scoring(runs, texts, max_new_tokens=6, batch_size=4)
    assert answers == plain and len({r.length for r in runs}) == 4
    assert len(length_batches([r.length for r in runs], 4)) == 1  # all four in one left-padded batch
    separate = nll_scorer(tiny_composed)([(r, t) for r, t in zip(runs, texts, strict=True) if t])
    assert scored[1] is None
    for got, expected in zip([scored[0], scored[2], scored[3]], separate, strict=True):
        assert got[1] == expected[1] and got[0] == pytest.approx(expected[0], rel=1e-5)


def test_length_batches_decoded_together_answer_as_one_at_a_time(tiny_composed):
    """Prompts too different in length for one prefill batch, decoded in one loop (their caches left-padded
    to the longest): each answer and NLL as when its prompt is generated alone; a batch_size of 1 decodes
    each alone."""
    from speechalign.backends.base import decoding_groups, length_batches

    runs = [tiny_composed.audio_run(tone(s), TASK) for s in (0.4, 6.0, 0.5, 12.0)]
    runs.append(tiny_composed.text_run("the cat", TASK))
    texts = ["A tone.", "A longer answer about what was heard.", None, "Ok", "Yes, a cat."]
    batches = length_batches([r.length for r in runs], 8)
    assert len(batches) >= 2 and len(decoding_groups(batches, 8)) == 1
    answers, scored = tiny_composed.generate_scoring(runs, texts, max_new_tokens=8, batch_size=8)
    for run, text, answer, score in zip(runs, texts, answers, scored, strict=True):
        alone, alone_score = tiny_composed.generate_scoring([run], [text], max_new_tokens=8, batch_size=1)
        assert answer == alone[0]
        assert (score is None) == (text is None)
        if score is not None:
            assert score[1] == alone_score[0][1] and score[0] == pytest.approx(alone_score[0][0], rel=1e-5)
    assert len(set(answers)) > 1  # distinct answers: the rows did not get each other's


def test_projector_is_deterministic_for_a_seed_and_round_trips(tmp_path):
    cfg = ProjectorConfig(encoder_dim=16, llm_dim=32, hidden_dim=24, stack=4)
    a, b, c = (Projector.initialised(cfg, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.net[0].weight, b.net[0].weight)
    assert not torch.equal(a.net[0].weight, c.net[0].weight)
    a.save(tmp_path / "proj")
    loaded = Projector.load(tmp_path / "proj")
    assert loaded.config == cfg
    x = torch.randn(1, 9, 16)
    assert torch.equal(loaded(x), a(x))


@pytest.mark.parametrize(
    "wave, message",
    [
        (np.full(16000, np.nan, dtype=np.float32), "NaN"),
        (np.zeros(0, dtype=np.float32), "empty"),
        (tone(30.5), "longer than"),
        (tone(0.05), "shorter than one audio position"),
    ],
)
def test_bad_audio_gives_a_clear_error(tiny_composed, wave, message):
    with pytest.raises(BackendInputError, match=message):
        tiny_composed.audio_run(wave, TASK)


def test_empty_transcript_gives_a_clear_error(tiny_composed):
    with pytest.raises(BackendInputError, match="empty transcript"):
        tiny_composed.text_run("  ", TASK)


def save_tiny_folders(folder, tiny_composed) -> tuple[str, str]:
    """The tiny composed model's LM and Whisper as local model folders (what a spec can name)."""
    from transformers import WhisperModel

    whisper, llm = folder / "whisper", folder / "llm"
    WhisperModel(tiny_composed.encoder.config).save_pretrained(whisper)
    tiny_composed.feature_extractor.save_pretrained(whisper)
    tiny_composed.llm.save_pretrained(llm)
    tiny_composed.tokenizer.save_pretrained(llm)
    return str(whisper), str(llm)


@pytest.mark.parametrize("dtype, expected", [(None, torch.float32), ("bfloat16", torch.bfloat16)])
def test_spec_dtype_sets_the_frozen_models_dtype_and_runs(tmp_path, tiny_composed, dtype, expected):
    from speechalign.backends import ComposedSpeechLLM

    whisper, llm = save_tiny_folders(tmp_path, tiny_composed)
    spec = {"llm": llm, "encoder": whisper, "projector": None, "projector_hidden": 24, "stack": 4}
    spec |= {"system_prompt": "You are a helpful assistant.", "layout": "{speech}\n{task}"}
    model = ComposedSpeechLLM.from_spec(spec | ({"dtype": dtype} if dtype else {}), seed=0)
    assert model.llm.dtype == expected and model.encoder.dtype == expected
    assert next(model.projector.parameters()).dtype == torch.float32  # trained in float32, kept so
    states = model.prefill(model.audio_run(tone(1.0), TASK))
    assert states.shape[0] == model.num_hidden_states and torch.isfinite(states).all()


def test_a_clip_heard_again_is_not_encoded_again(tiny_composed):
    """Validity conditions and mismatched controls hear the same clip again: one encoder forward per clip and
    the same audio positions; the clip changed in one sample is encoded anew."""
    calls = []
    hook = tiny_composed.encoder.conv1.register_forward_hook(lambda *_: calls.append(1))
    try:
        wave = tone(0.77)  # a clip no other test of the shared fixture has encoded
        first = tiny_composed.audio_run(wave, TASK)
        again = tiny_composed.audio_run(wave.copy(), "Another instruction.")
        assert len(calls) == 1
        changed = wave.copy()
        changed[0] += 0.5
        tiny_composed.audio_run(changed, TASK)
        assert len(calls) == 2
    finally:
        hook.remove()
    audio = [run.payload["inputs_embeds"][0, run.span[0] : run.span[1]] for run in (first, again)]
    assert torch.equal(*audio)
