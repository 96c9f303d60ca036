"""GGUF causal LM -> Hugging Face safetensors folder (model, tokenizer, chat template).

transformers dequantises the 4/5-bit GGUF weights on load, so the folder holds the dequantised float32
values: close to, not identical with, the original release. Loading it takes ~1 s instead of ~30 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def load_gguf(gguf: str | os.PathLike):
    """(model, tokenizer) straight from a GGUF file, dequantised to float32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return model.eval(), tokenizer


def gguf_to_hf(gguf: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    model, tokenizer = load_gguf(gguf)
    # transformers refuses to save a model it believes is quantised; its weights are plain float32 now.
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
