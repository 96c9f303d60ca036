"""Builders of tiny random models from configs (no downloads, seconds to build) and test waveforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

MODELS = Path(__file__).resolve().parents[2] / "data" / "models"

SMOLLM_TOKENIZER = MODELS / "smollm2-135m-instruct" / "hf"
QWEN_TOKENIZER = MODELS / "qwen2.5-coder-0.5b-instruct" / "hf"
WHISPER = MODELS / "whisper-base" / "hf"


def tiny_whisper_encoder(num_mel_bins: int = 80):
    from transformers import WhisperConfig, WhisperModel

    config = WhisperConfig(
        d_model=16,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        num_mel_bins=num_mel_bins,
        max_source_positions=1500,
        vocab_size=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(0)
    return WhisperModel(config).get_encoder()


def tiny_llama(tokenizer, **config):
    """A tiny random Llama for ``tokenizer``, seeded: the LM of every tiny speech model in the tests (SIFT's
    ``tiny_sift.tiny_llm`` too); ``config`` overrides the LlamaConfig fields."""
    from transformers import LlamaConfig, LlamaForCausalLM

    fields = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "eos_token_id": tokenizer.eos_token_id,
    }
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**(fields | config))).eval()


def tiny_composed(dual: bool = False):
    """Tiny random Whisper encoder + projector + tiny random Llama, with SmolLM2's real tokenizer; ``dual``:
    with a paralinguistic projector on Whisper block 1 (a SIFT stage-2 model)."""
    from transformers import AutoTokenizer, WhisperFeatureExtractor

    from speechalign.backends import ComposedSpeechLLM, Projector, ProjectorConfig

    tokenizer = AutoTokenizer.from_pretrained(SMOLLM_TOKENIZER)
    llm = tiny_llama(tokenizer)
    config = ProjectorConfig(encoder_dim=16, llm_dim=32, hidden_dim=24, stack=4)
    return ComposedSpeechLLM(
        encoder=tiny_whisper_encoder(),
        feature_extractor=WhisperFeatureExtractor(feature_size=80),
        projector=Projector.initialised(config, seed=0),
        llm=llm,
        tokenizer=tokenizer,
        system_prompt="You are a helpful assistant.",
        paralinguistic=Projector.initialised(config, seed=1) if dual else None,
        paralinguistic_layer=1 if dual else None,
    )


def tone(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    """A deterministic test waveform ``(N,)`` float32."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def tiny_qwen2_audio():
    """Tiny random Qwen2-Audio with the provisioned Qwen2.5 tokenizer (+ audio tokens) and a 128-bin Whisper
    feature extractor: the real processor and model classes, random weights."""
    from transformers import (
        AutoTokenizer,
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2Config,
    )

    from speechalign.backends.qwen2_audio import Qwen2AudioSpeechLLM, build_processor

    processor = build_processor(AutoTokenizer.from_pretrained(QWEN_TOKENIZER))
    tokenizer = processor.tokenizer
    audio_config = Qwen2AudioEncoderConfig(
        num_mel_bins=128,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        d_model=16,
        max_source_positions=1500,
    )
    text_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
    )
    config = Qwen2AudioConfig(
        audio_config=audio_config,
        text_config=text_config,
        audio_token_id=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = text_config.eos_token_id
    return Qwen2AudioSpeechLLM(model, processor, system_prompt="You are a helpful assistant.")


def write_utterance(folder: Path, uid: str, wave: np.ndarray, text: str, words, question=None, answer=None):
    """A manifest ``Utterance`` with ``wave`` written to ``folder/uid.wav`` (float, so NaN survives)."""
    import soundfile as sf

    from speechalign.data.manifest import Utterance, Word

    path = folder / f"{uid}.wav"
    sf.write(path, wave, 16000, subtype="FLOAT")
    return Utterance(
        id=uid,
        audio_path=str(path),
        sample_rate=16000,
        num_samples=len(wave),
        text=text,
        speaker="test",
        split="test",
        source="test",
        words=tuple(Word(w, s, e) for w, s, e in words),
        question=question,
        answer=answer,
    )


class FakeSbert:
    """Sentence embeddings from letter counts: deterministic, and identical answers get cosine 1."""

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True):
        out = np.zeros((len(texts), 27), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text.lower():
                out[row, ord(ch) - 97 if "a" <= ch <= "z" else 26] += 1
        out[:, 26] += 1e-3  # never a zero vector
        return out / np.linalg.norm(out, axis=1, keepdims=True)
