"""The speech LLM SIFT trains: prompt pieces (truncated targets get no end token), and a loss on the response
tokens only that equals the straightforward padded computation, gradients included."""

from __future__ import annotations

import pytest
import torch
from tiny_sift import model_config, needs_tokenizer

from speechalign.backends.checkpoint import Projectors
from speechalign.train.model import SiftSpeechLLM, prompt_pieces


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


def straightforward_losses(model, pieces, slots):
    """The reference: every example's whole sequence (before, slot, after, response) in one right-padded
    batch, logits of every position, the loss summed over the positions that predict a response token."""
    rows = [
        torch.cat([model.embed_ids(p.before), slot, model.embed_ids(p.after), model.embed_ids(p.response)])
        for p, slot in zip(pieces, slots, strict=True)
    ]
    longest = max(len(r) for r in rows)
    embeds = torch.zeros(len(rows), longest, rows[0].shape[1])
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for b, r in enumerate(rows):
        embeds[b, : len(r)], mask[b, : len(r)] = r, 1
    logits = model.llm(inputs_embeds=embeds, attention_mask=mask).logits  # (B, S, V)
    total = 0.0
    for b, p in enumerate(pieces):
        n = len(rows[b])
        predicting = logits[b, n - len(p.response) - 1 : n - 1]  # position t predicts token t + 1
        target = torch.tensor(p.response)
        total = total + torch.nn.functional.cross_entropy(predicting, target, reduction="sum")
    return total, sum(len(p.response) for p in pieces)


@needs_tokenizer
@pytest.mark.parametrize("dual", [False, True])
def test_the_fast_loss_equals_the_straightforward_one_with_its_gradients(tiny, dual):
    """Cached prefix states, unpadded examples, no input for the last response token: the same loss and the
    same projector gradients as the whole padded batch, to float tolerance."""
    llm, tokenizer = tiny
    config = model_config(dual)
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    pieces = [
        prompt_pieces(tokenizer, "", None, config.layout, "Yes.", truncated=False),
        prompt_pieces(tokenizer, "sys", "Describe it.", config.layout, "A longer answer", truncated=True),
        prompt_pieces(tokenizer, "", None, config.layout, "Ok", truncated=True),  # one response token
    ]
    torch.manual_seed(0)
    sem = [torch.randn(n, 8) for n in (10, 13, 6)]
    para = [torch.randn(n, 8) for n in (10, 13, 6)] if dual else None

    def loss_and_gradients(losses):
        model.projectors.zero_grad()
        s, p = model.projectors(sem, para)
        total, count = losses(model, pieces, model.slots(s, p))
        (total / count).backward()
        grads = {n: w.grad.clone() for n, w in model.projectors.named_parameters() if w.grad is not None}
        return total.item(), count, grads

    fast = loss_and_gradients(lambda m, p, s: m.response_losses(p, s))
    again = loss_and_gradients(lambda m, p, s: m.response_losses(p, s))  # from the cached prefix states
    reference = loss_and_gradients(straightforward_losses)
    assert fast[1] == reference[1] == sum(len(p.response) for p in pieces)
    assert len(model._prefixes) == 2  # one per distinct prefix (system prompt), computed once
    for got in (fast, again):
        assert got[0] == pytest.approx(reference[0], rel=1e-5)
        assert got[2].keys() == reference[2].keys() and reference[2]
        for name, grad in reference[2].items():
            torch.testing.assert_close(got[2][name], grad, rtol=1e-4, atol=1e-6)
