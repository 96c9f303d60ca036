"""SIFT checkpoints (tiny random models): a checkpoint folder reads back as it was saved; with the composed
backend, single- and dual-encoder checkpoints load as the spec's ``projector:``, the dual placement is the
one SIFT trains with, and ALAS's span is the semantic positions with the single-encoder time convention."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_composed, tone
from tiny_sift import model_config

from speechalign.backends import Projector, ProjectorConfig
from speechalign.backends.checkpoint import (
    Projectors,
    SiftModelConfig,
    load_projectors,
    read_checkpoint_config,
    save_checkpoint,
)
from speechalign.backends.composed import DUAL_TAGS, ComposedSpeechLLM, spec_projectors
from speechalign.errors import UserFacingError

TASK = "What is this about? Answer in 10-15 words."
LAYOUT = "{speech}\n{task}"


@pytest.fixture(scope="module")
def dual():
    return tiny_composed(dual=True)


def test_dual_audio_run_is_meta_then_text_and_spans_the_semantic_positions(dual):
    wave = tone(1.0)  # 50 encoder positions -> 12 LM positions per projector
    run = dual.audio_run(wave, TASK)
    semantic, para = dual.projected_audio(wave)  # (1, 12, D) each
    embeds = run.payload["inputs_embeds"][0]  # (S, D)
    start, stop = run.span
    assert stop - start == 12
    assert torch.equal(embeds[start:stop], semantic[0])
    embed = dual.llm.get_input_embeddings()
    ids = lambda text: torch.tensor(dual.tokenizer(text, add_special_tokens=False).input_ids)  # noqa: E731
    open_tag, middle, close = (embed(ids(t)) for t in DUAL_TAGS)
    prompt_start = start - len(middle) - 12 - len(open_tag)
    before_ids = ids(dual._prompt_halves(TASK)[0])
    assert prompt_start == len(before_ids)
    expected = torch.cat([open_tag, para[0], middle, semantic[0], close])
    assert torch.equal(embeds[prompt_start : stop + len(close)], expected)
    # the single-encoder time convention holds for the semantic rows
    single = tiny_composed()
    assert (
        (dual.frame_seconds, dual.offset_seconds)
        == (single.frame_seconds, single.offset_seconds)
        == (0.08, -0.01)
    )


def test_dual_text_run_is_the_transcript_alone_as_for_one_encoder(dual):
    single = tiny_composed()
    a, b = dual.text_run("the cat sat", TASK), single.text_run("the cat sat", TASK)
    assert a.span == b.span and torch.equal(a.payload["inputs_embeds"], b.payload["inputs_embeds"])


@pytest.mark.parametrize("is_dual", [False, True])
def test_backend_prompt_is_exactly_the_sift_training_prompt(dual, is_dual):
    """The SIFT model (training, sift-eval) and the backend put the same embeddings before the answer."""
    from speechalign.sift.paralinguistic import whisper_layer_frames
    from speechalign.train.model import SiftSpeechLLM, prompt_pieces
    from speechalign.train.spoken_qa import QAItem, audio_slot, prompt_embeddings

    backend = dual if is_dual else tiny_composed()
    config = SiftModelConfig("tiny", "tiny", 1 if is_dual else None, 16, 32, 24, 4, LAYOUT)
    projectors = Projectors(config, seed=5)
    projectors.semantic.load_state_dict(backend.projector.state_dict())
    if is_dual:
        projectors.paralinguistic.load_state_dict(backend.paralinguistic.state_dict())
    model = SiftSpeechLLM(config, backend.llm, backend.tokenizer, projectors)
    wave = tone(1.3)
    n = len(backend.encoder.layers)
    layers = whisper_layer_frames(backend.encoder, backend.feature_extractor, wave, [1, n])
    item = QAItem("u", TASK, "an answer", "the text", layers[n].clone(), layers[1].clone())  # as sift-eval
    pieces = prompt_pieces(backend.tokenizer, backend.system_prompt, TASK, LAYOUT, "", True)
    trained = prompt_embeddings(model, pieces, audio_slot(model, item))  # (S, D)
    served = backend.audio_run(wave, TASK).payload["inputs_embeds"][0]
    assert served.shape == trained.shape
    torch.testing.assert_close(served, trained, atol=1e-6, rtol=0)


def save_sift_checkpoint(folder, dual: bool, llm="tiny-llm", layout=LAYOUT):
    config = SiftModelConfig(llm, "tiny-whisper", 1 if dual else None, 16, 32, 24, 4, layout)
    projectors = Projectors(config, seed=7)
    save_checkpoint(folder, config, projectors, {"variant": {"name": "t"}})
    return projectors


def test_checkpoint_round_trip(tmp_path):
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


SPEC = {"llm": "tiny-llm", "encoder": "tiny-whisper", "layout": LAYOUT, "projector_hidden": 8, "stack": 2}


@pytest.mark.parametrize("is_dual", [False, True])
def test_a_sift_checkpoint_folder_loads_as_the_projector(tmp_path, is_dual):
    saved = save_sift_checkpoint(tmp_path / "ckpt", is_dual)
    loaded = spec_projectors({**SPEC, "projector": str(tmp_path / "ckpt")}, 16, 32, seed=0)
    assert torch.equal(loaded["projector"].net[0].weight, saved.semantic.net[0].weight)
    assert loaded["projector"].config == ProjectorConfig(16, 32, 24, 4)  # the checkpoint's, not the spec's
    if is_dual:
        assert loaded["paralinguistic_layer"] == 1
        assert torch.equal(loaded["paralinguistic"].net[2].weight, saved.paralinguistic.net[2].weight)
    else:
        assert set(loaded) == {"projector"}
    backend = tiny_composed()
    model = ComposedSpeechLLM(
        backend.encoder, backend.feature_extractor, llm=backend.llm, tokenizer=backend.tokenizer,
        system_prompt="S", **loaded,
    )  # fmt: skip
    assert model.dual == is_dual


@pytest.mark.parametrize("key", ["llm", "encoder", "layout"])
def test_a_checkpoint_trained_with_other_models_or_layout_is_refused(tmp_path, key):
    save_sift_checkpoint(tmp_path / "ckpt", True)
    spec = {**SPEC, "projector": str(tmp_path / "ckpt"), key: "{speech} other {task}"}
    with pytest.raises(UserFacingError, match=f"{key}: checkpoint"):
        spec_projectors(spec, 16, 32, seed=0)


def test_plain_projector_folders_and_null_still_work(tmp_path):
    config = ProjectorConfig(16, 32, 24, 4)
    Projector.initialised(config, seed=3).save(tmp_path / "proj")
    loaded = spec_projectors({**SPEC, "projector": str(tmp_path / "proj")}, 16, 32, seed=0)["projector"]
    assert torch.equal(loaded.net[0].weight, Projector.initialised(config, seed=3).net[0].weight)
    fresh = spec_projectors({**SPEC, "projector": None}, 16, 32, seed=3)["projector"]
    assert fresh.config == ProjectorConfig(16, 32, 8, 2)  # the spec's shape
    with pytest.raises(UserFacingError, match="not a projector checkpoint"):
        spec_projectors({**SPEC, "projector": str(tmp_path)}, 16, 32, seed=0)


def test_dual_needs_both_projector_and_layer_in_range():
    backend = tiny_composed()
    parts = dict(
        encoder=backend.encoder, feature_extractor=backend.feature_extractor, projector=backend.projector,
        llm=backend.llm, tokenizer=backend.tokenizer, system_prompt="S",
    )  # fmt: skip
    with pytest.raises(ValueError, match="both"):
        ComposedSpeechLLM(**parts, paralinguistic=backend.projector)
    with pytest.raises(ValueError, match="not in 0..2"):
        ComposedSpeechLLM(**parts, paralinguistic=backend.projector, paralinguistic_layer=3)
