"""The tiny SIFT setup shared by tests/sift, tests/train, tests/backends and the 2-process workers: a tiny
random LM with SmolLM2's real tokenizer and chat template (the provisioned model folder supplies them), a
model config, a random feature store, and a short training run (``tiny_run``)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import SMOLLM_TOKENIZER, tiny_llama

needs_tokenizer = pytest.mark.skipif(
    not SMOLLM_TOKENIZER.is_dir(), reason="needs the provisioned SmolLM2 tokenizer"
)


def tiny_llm():
    """(tiny random Llama, SmolLM2 tokenizer), seeded; tests/support/sift_ddp_worker.py builds it in each
    process."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(SMOLLM_TOKENIZER)
    llm = tiny_llama(
        tokenizer,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return llm, tokenizer


def model_config(dual: bool, steps_layout="{speech}\n{task}"):
    from speechalign.backends.checkpoint import SiftModelConfig

    return SiftModelConfig("tiny", "tiny-encoder", 0 if dual else None, 8, 16, 12, 4, steps_layout)


def feature_store(ids, seed=0):
    from speechalign.sift.features import FeatureStore

    g = torch.Generator().manual_seed(seed)
    lengths = [9 + (i % 4) for i in range(len(ids))]
    offsets = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)))
    sem = torch.randn(sum(lengths), 8, generator=g).half()
    para = torch.randn(sum(lengths), 8, generator=g).half()
    return FeatureStore(list(ids), sem, para, offsets, {"paralinguistic_layer": 0})


TRAIN_CFG = {
    "steps": 6,
    "batch_size": 4,
    "lr": 0.01,
    "warmup": 2,
    "eval_every": 3,
    "save_every": 2,
    "seed": 0,
    "max_length": 512,
    "val_items": 4,
}


def tiny_run(tiny, state_dir=None, stop_after=None, variant=None, accelerator=None, live=None):
    """``train_loop`` for TRAIN_CFG's 6 steps on 9 training and 3 held-out targets of random features."""
    from accelerate import Accelerator

    from speechalign.backends.checkpoint import Projectors
    from speechalign.sift.targets import Target
    from speechalign.train.fit import build_examples, train_loop
    from speechalign.train.model import SiftSpeechLLM

    llm, tokenizer = tiny
    variant = variant or {"name": "t", "data": ["sift_s"], "encoders": "dual", "train": ["paralinguistic"]}
    config = model_config(dual=variant["encoders"] == "dual")
    torch.manual_seed(0)
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    ids = [f"u{i}" for i in range(12)]
    store = feature_store(ids)
    targets = [
        Target(i, "sift_s", "test" if n >= 9 else "train", "", None, "x", f"reply {n} to you", n % 3 == 0, 4)
        for n, i in enumerate(ids)
    ]
    frames_of = lambda i: int(store.offsets[store.index[i] + 1] - store.offsets[store.index[i]])  # noqa: E731
    examples, _ = build_examples(targets, tokenizer, config.layout, 512, frames_of, 4, config.dual)
    train_ex = [e for e in examples if e.split == "train"]
    val_ex = [e for e in examples if e.split != "train"]
    accelerator = accelerator or Accelerator(cpu=True)
    return train_loop(
        model, train_ex, val_ex, store, TRAIN_CFG, variant, accelerator, state_dir, stop_after, live=live
    )
