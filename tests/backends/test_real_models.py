"""The composed backend on the real provisioned models (Whisper-base encoder, SmolLM2-135M-Instruct,
all-MiniLM-L6-v2) and a synthesised sentence with exact word times."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.models

SPEC = {
    "kind": "composed",
    "llm": "smollm2-135m-instruct",
    "encoder": "whisper-base",
    "projector": None,
    "projector_hidden": 64,
    "stack": 4,
    "system_prompt": "You are a helpful assistant.",
    "layout": "{speech}\n{task}",
}


@pytest.fixture(scope="module")
def composed(provisioned):
    from speechalign.backends import load_backend
    from speechalign.models import model_path

    provisioned("smollm2-135m-instruct"), provisioned("whisper-base")
    return load_backend(SPEC | {"llm": model_path("smollm2-135m-instruct")}, seed=0)


def test_real_composed_model_spans_prefill_answers_and_alas(composed, provisioned):
    from sentence_transformers import SentenceTransformer

    from speechalign.alas.measure import word_char_spans
    from speechalign.alas.respond import agreement
    from speechalign.audio import resample
    from speechalign.data.espeak import synthesize
    from speechalign.metrics.alas import alas, reference_path

    text = "The quick brown fox jumps over the lazy dog near the river bank"
    speech = synthesize(text)
    wave = resample(np.asarray(speech.audio, dtype=np.float32), speech.sample_rate, 16000)
    task = "What does the fox do? Answer in 10-15 words."
    audio_run, text_run = composed.audio_run(wave, task), composed.text_run(text, task)

    frames = len(wave) // 160  # mel frames -> ceil(F/2) Whisper positions -> // 4 LM positions
    assert audio_run.span_length == ((frames + 1) // 2) // 4
    assert composed.frame_seconds == pytest.approx(0.08)
    # the text span's tokens cover the transcript exactly, and the spans start after the same prompt prefix
    chars = text_run.token_char_spans
    assert chars[0, 0] == 0 and chars[-1, 1] == len(text) and (chars[1:, 0] == chars[:-1, 1]).all()
    assert audio_run.span[0] == text_run.span[0]

    audio_states, text_states = composed.prefill(audio_run), composed.prefill(text_run)
    assert audio_states.shape == (31, audio_run.span_length, 576)  # embeddings + 30 blocks of SmolLM2
    assert text_states.shape == (31, text_run.span_length, 576)

    answers = composed.generate([audio_run, text_run], max_new_tokens=24)
    assert all(a.strip() for a in answers)
    sbert = SentenceTransformer(str(provisioned("all-minilm-l6-v2") / "hf"), device="cpu")
    (similarity,) = agreement(sbert, [answers[0]], [answers[1]])
    assert -1.0 <= similarity <= 1.0

    words = [w.text for w in speech.words]
    ref = reference_path(
        [(w.start, w.end) for w in speech.words],
        word_char_spans(text, words),
        text_run.token_char_spans,
        n_audio=audio_run.span_length,
        frame_seconds=composed.frame_seconds,
        offset_seconds=composed.offset_seconds,
    )
    result = alas(audio_states, text_states, ref)
    assert result.scores.tokens.shape == (31,)
    assert np.isfinite(result.scores.tokens).all()
