"""A tiny random SALMONN built offline in seconds: tiny Whisper encoder (30 s input, 1500 positions, as the
release), tiny BEATs, tiny window Q-Former, tiny Llama with LoRA, and a small Llama-style (Metaspace BPE)
tokenizer trained here, since no Vicuna tokenizer is on disk."""

from __future__ import annotations

import string

import torch
from tiny_models import tiny_llama, tiny_whisper_encoder

TINY_BEATS = {
    "input_patch_size": 16,
    "embed_dim": 16,
    "encoder_layers": 2,
    "encoder_embed_dim": 24,
    "encoder_ffn_embed_dim": 32,
    "encoder_attention_heads": 2,
    "conv_pos": 8,
    "conv_pos_groups": 4,
    "relative_position_embedding": True,
    "num_buckets": 32,
    "max_distance": 64,
    "gru_rel_pos": True,
    "deep_norm": True,
    "layer_norm_first": False,
    # training-only fields a released cfg also carries
    "dropout": 0.1,
    "finetuned_model": True,
    "predictor_class": 527,
}

CORPUS = [
    "USER: <Speech></Speech> What is the emotion of the speaker?\nASSISTANT:",
    "USER: <Text>the cat sat on the mat</Text>Answer in 10-15 words.\nASSISTANT:",
    "I am so glad to see you again, said Ann, and the dog barked twice.",
    string.printable,
]


def llama_style_tokenizer():
    """A byte-free BPE with Metaspace pre-tokenisation (as Llama's sentencepiece), <s> and </s>; every
    printable ASCII character is in its alphabet."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def tiny_beats(seed: int = 0):
    from speechalign.backends.beats import BEATs, BEATsConfig

    torch.manual_seed(seed)
    return BEATs(BEATsConfig.from_dict(TINY_BEATS)).eval()


def tiny_salmonn(seed: int = 0, lora_noise: float = 0.5):
    """Random connector (``seed``) and LoRA B weights drawn with std ``lora_noise`` (peft starts them at zero,
    which would make LoRA invisible to the tests)."""
    from transformers import WhisperFeatureExtractor

    from speechalign.backends.qformer import WindowQFormer, WindowQFormerConfig
    from speechalign.backends.salmonn import SalmonnConfig, SalmonnSpeechLLM, with_lora

    tokenizer = llama_style_tokenizer()
    whisper, beats = tiny_whisper_encoder(), tiny_beats()
    qformer = WindowQFormerConfig(
        whisper_dim=16,
        beats_dim=24,
        llm_dim=32,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
    )
    config = SalmonnConfig(qformer=qformer)
    llm = with_lora(tiny_llama(tokenizer), config)
    torch.manual_seed(seed)
    connector = WindowQFormer(qformer)
    with torch.no_grad():
        for name, param in llm.named_parameters():
            if ".lora_B." in name:
                param.normal_(std=lora_noise)
    return SalmonnSpeechLLM(
        whisper=whisper,
        feature_extractor=WhisperFeatureExtractor(feature_size=80),
        beats=beats,
        connector=connector,
        llm=llm,
        tokenizer=tokenizer,
        config=config,
    )
