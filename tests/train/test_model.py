"""The speech LLM SIFT trains: prompt pieces (truncated targets get no end token) and a loss that counts the
response tokens only."""

from __future__ import annotations

import pytest
import torch
from tiny_sift import model_config, needs_tokenizer

from speechalign.backends.checkpoint import Projectors
from speechalign.train.model import IGNORE, SiftSpeechLLM, prompt_pieces


@needs_tokenizer
def test_truncated_targets_get_no_end_token(tiny):
    _, tokenizer = tiny
    done = prompt_pieces(tokenizer, "", None, "{speech}\n{task}", "Hello there.", truncated=False)
    cut = prompt_pieces(tokenizer, "", None, "{speech}\n{task}", "Hello there.", truncated=True)
    assert done.response[-1] == tokenizer.eos_token_id
    assert cut.response == done.response[:-1] and tokenizer.eos_token_id not in cut.response
    text = tokenizer.decode(done.before) + "<AUDIO>" + tokenizer.decode(done.after)
    assert text.startswith("<|im_start|>system\n<|im_end|>")  # explicit empty system prompt, no default one
    assert text.endswith("<|im_start|>assistant\n")


@needs_tokenizer
@pytest.mark.parametrize("dual", [False, True])
def test_loss_counts_only_response_tokens(tiny, dual):
    llm, tokenizer = tiny
    config = model_config(dual)
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    pieces = [
        prompt_pieces(tokenizer, "", None, config.layout, "Yes.", truncated=False),
        prompt_pieces(
            tokenizer, "sys", "Describe it.", config.layout, "A longer answer here", truncated=True
        ),
    ]
    sem = [torch.randn(10, 16), torch.randn(13, 16)]
    para = [torch.randn(10, 16), torch.randn(13, 16)] if dual else None
    embeds, mask, labels = model.assemble(pieces, sem, para)  # (B, S, D), (B, S), (B, S)
    for b, p in enumerate(pieces):
        kept = labels[b][labels[b] != IGNORE].tolist()
        assert kept == p.response  # only the response carries labels, in order, at the row's end
        n = int(mask[b].sum())
        assert labels[b, n - len(p.response) : n].tolist() == p.response and (labels[b, n:] == IGNORE).all()
    total, count = model.token_losses(embeds, mask, labels)
    logits = llm(inputs_embeds=embeds, attention_mask=mask).logits
    expected = 0.0
    for b, p in enumerate(pieces):
        n = int(mask[b].sum())
        for k, token in enumerate(p.response):
            pos = n - len(p.response) + k - 1  # the position that predicts this token
            expected -= torch.log_softmax(logits[b, pos], -1)[token].item()
    assert count == sum(len(p.response) for p in pieces)
    assert total.item() == pytest.approx(expected, rel=1e-5)
