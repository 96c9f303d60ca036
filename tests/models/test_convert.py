"""The converted models behave like the originals they came from (needs the provisioned models)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from speechalign.models.ct2 import CT2FormatError, read_ct2
from speechalign.models.whisper import OPENAI_CHECKPOINT, load_openai_whisper, openai_name_to_hf

pytestmark = pytest.mark.models

SENTENCE = "The old lighthouse keeper walked along the shore every morning before sunrise."


@pytest.fixture(scope="module")
def clip():
    """A synthesised sentence at 16 kHz (espeak-ng, an intelligible Klatt voice)."""
    from scipy.signal import resample_poly

    from speechalign.data.espeak import synthesize

    speech = synthesize(SENTENCE, voice="en-us+klatt4")
    assert speech.sample_rate == 22050
    return resample_poly(speech.audio, 320, 441).astype(np.float32)


def faster_whisper_text(ct2_dir, audio) -> str:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(ct2_dir), device="cpu", compute_type="float32")
    segments, _ = model.transcribe(
        audio,
        beam_size=1,
        language="en",
        without_timestamps=True,
        temperature=0.0,
        condition_on_previous_text=False,
    )
    return " ".join(s.text.strip() for s in segments)


@pytest.mark.parametrize("name", ["whisper-tiny-en", "whisper-base"])
def test_openai_checkpoint_transcribes_like_faster_whisper_on_the_original(provisioned, clip, name):
    folder = provisioned(name)
    expected = faster_whisper_text(folder / "source", clip)
    model = load_openai_whisper(folder / OPENAI_CHECKPOINT)
    result = model.transcribe(
        clip,
        language="en",
        temperature=0.0,
        beam_size=None,
        fp16=False,
        without_timestamps=True,
        condition_on_previous_text=False,
    )
    assert result["text"].strip() == expected
    assert "every morning before sunrise" in expected.lower()  # and the clip is intelligible


@pytest.mark.parametrize("name", ["whisper-tiny-en", "whisper-base"])
def test_hf_folder_computes_the_same_logits_as_the_openai_checkpoint(provisioned, clip, name):
    import whisper
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    folder = provisioned(name)
    reference = load_openai_whisper(folder / OPENAI_CHECKPOINT).eval()
    hf = WhisperForConditionalGeneration.from_pretrained(folder / "hf").eval()
    processor = WhisperProcessor.from_pretrained(folder / "hf")
    features = processor(clip, sampling_rate=16000, return_tensors="pt").input_features
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(clip)))[None]
    torch.testing.assert_close(features, mel, atol=1e-5, rtol=0)
    prompt = processor.tokenizer(" The old lighthouse", add_special_tokens=False).input_ids
    tokens = torch.tensor([[hf.generation_config.decoder_start_token_id, *prompt]])
    with torch.no_grad():
        expected = reference.decoder(tokens, reference.encoder(mel))
        logits = hf(input_features=mel, decoder_input_ids=tokens).logits
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["whisper-tiny-en", "whisper-base"])
def test_hf_tokenizer_has_timestamp_tokens_at_the_right_ids(provisioned, name):
    from transformers import WhisperTokenizer

    folder = provisioned(name)
    tokenizer = WhisperTokenizer.from_pretrained(folder / "hf")
    no_timestamps = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    assert tokenizer.convert_tokens_to_ids("<|0.00|>") == no_timestamps + 1
    assert tokenizer.convert_tokens_to_ids("<|30.00|>") == no_timestamps + 1501
    assert tokenizer.decode([no_timestamps + 1 + 106], decode_with_timestamps=True) == "<|2.12|>"
    generation = json.loads((folder / "hf" / "generation_config.json").read_text())
    assert (
        generation["alignment_heads"]
        == json.loads((folder / "source" / "config.json").read_text())["alignment_heads"]
    )


def test_openai_checkpoint_loads_with_weights_only(provisioned):
    checkpoint = torch.load(provisioned("whisper-base") / OPENAI_CHECKPOINT, weights_only=True)
    assert checkpoint["dims"]["n_audio_layer"] == 6 and checkpoint["dims"]["n_vocab"] == 51865
    assert "encoder.blocks.5.attn.key.weight" in checkpoint["model_state_dict"]


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
def test_converted_llm_logits_match_the_gguf_loaded_model(provisioned, name):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from speechalign.models.gguf import load_gguf

    folder = provisioned(name)
    original, original_tokenizer = load_gguf(folder / "source" / "model.gguf")
    converted = AutoModelForCausalLM.from_pretrained(folder / "hf", dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder / "hf")
    messages = [{"role": "user", "content": "Name three rivers in Europe."}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == original_tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    assert ids.tolist() == original_tokenizer(prompt, return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        expected, got = original(ids).logits, converted(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    answer = converted.generate(ids, max_new_tokens=12, do_sample=False)
    assert tokenizer.decode(answer[0, ids.shape[1] :], skip_special_tokens=True).strip()


def test_sentence_bert_embeds_offline(provisioned):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(provisioned("all-minilm-l6-v2") / "hf"), device="cpu")
    a, b, c = model.encode(
        ["A cat sat on the mat.", "A kitten was sitting on the rug.", "Stock prices fell."]
    )
    cos = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert a.shape == (384,)
    assert cos(a, b) > 0.5 > cos(a, c)


def test_hf_names_cover_every_openai_weight(provisioned):
    checkpoint = torch.load(provisioned("whisper-tiny-en") / OPENAI_CHECKPOINT, weights_only=True)
    names = [openai_name_to_hf(k) for k in checkpoint["model_state_dict"]]
    assert len(set(names)) == len(names)


def test_truncated_ct2_file_is_a_clear_error(provisioned, tmp_path):
    data = (provisioned("whisper-tiny-en") / "source" / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(CT2FormatError, match="truncated"):
        read_ct2(tmp_path / "model.bin")
