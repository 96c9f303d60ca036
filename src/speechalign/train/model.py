"""The speech LLM SIFT trains: cached encoder frames -> ``Projector``(s) -> frozen causal LM.

The projectors are the backends' ``speechalign.backends.Projector``; the prompt is the backends' chat template
(``chat_prompt`` with an explicit system prompt, ``user_message(layout, speech, instruction)``), so training
and inference render the same text. The speech slot holds:

- one encoder (stage 1, single-encoder): the semantic projection alone, exactly what
  ``ComposedSpeechLLM.audio_run`` puts there (so a stage-1 checkpoint's ``semantic/`` folder loads as that
  backend's projector);
- two encoders (AZEROS's dual placement): ``<audio><meta>`` [paralinguistic] ``</meta><text>`` [semantic]
  ``</text></audio>``, by ``speechalign.backends.composed.speech_slot`` (so a dual checkpoint loads as the
  composed backend's ``projector:`` and is prompted exactly as in training).

Only response tokens carry labels: everything up to and including the assistant header is -100, and the
response is the target's tokens plus the end token unless the target was truncated.

A checkpoint is a folder (``speechalign.backends.checkpoint``); :func:`load_checkpoint` rebuilds the whole
model from it alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from speechalign.backends import chat_prompt, user_message
from speechalign.backends.checkpoint import (
    Projectors,
    SiftModelConfig,
    load_projectors,
    read_checkpoint_config,
)
from speechalign.backends.composed import dual_tag_ids, speech_slot
from speechalign.backends.prompts import SPEECH_MARKER, split_at_marker

IGNORE = -100


@dataclass
class PromptPieces:
    """Token ids around the speech slot and of the response; ``end`` says whether the end token follows."""

    before: list[int]
    after: list[int]
    response: list[int]


def prompt_pieces(
    tokenizer, system: str, instruction: str | None, layout: str, response: str, truncated: bool
):
    """The ids before and after the speech slot (through the assistant header) and the response ids."""
    prompt = chat_prompt(tokenizer, system, user_message(layout, SPEECH_MARKER, instruction or ""))
    before, after = split_at_marker(prompt)
    response_ids = tokenizer(response, add_special_tokens=False).input_ids
    if not truncated:  # a truncated target never saw its end: no false end-of-sequence label
        response_ids = response_ids + [tokenizer.eos_token_id]
    ids = lambda text: tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
    return PromptPieces(ids(before), ids(after), response_ids)


class SiftSpeechLLM(nn.Module):
    """Frozen LM + tokenizer + trainable :class:`Projectors`, assembling ``inputs_embeds`` per example."""

    def __init__(self, config: SiftModelConfig, llm: nn.Module, tokenizer, projectors: Projectors):
        super().__init__()
        self.config = config
        self.llm = llm.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.projectors = projectors
        self._tag_ids = dual_tag_ids(tokenizer)

    @property
    def device(self) -> torch.device:
        return next(self.llm.parameters()).device

    def embed_ids(self, ids: list[int]) -> torch.Tensor:  # (S, D)
        return self.llm.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=self.device))

    def speech_slot(self, sem: torch.Tensor, para: torch.Tensor | None) -> torch.Tensor:
        """``(A_slot, D)``: what stands in the speech slot (semantic alone, or the dual placement), laid out
        by the composed backend's ``speech_slot`` (training and inference share it)."""
        tags = [self.embed_ids(ids) for ids in self._tag_ids] if para is not None else None
        return speech_slot(tags, sem, para)[0]

    def assemble(self, pieces: list[PromptPieces], sem: list[torch.Tensor], para: list[torch.Tensor] | None):
        """Right-padded ``inputs_embeds (B, S, D)``, ``attention_mask (B, S)``, ``labels (B, S)``."""
        rows, labels = [], []
        for i, p in enumerate(pieces):
            slot = self.speech_slot(sem[i], None if para is None else para[i])  # (A, D)
            prompt = torch.cat([self.embed_ids(p.before), slot, self.embed_ids(p.after)])  # (S_p, D)
            rows.append(torch.cat([prompt, self.embed_ids(p.response)]))  # (S_i, D)
            labels.append(torch.tensor([IGNORE] * len(prompt) + p.response, dtype=torch.long))
        longest = max(len(r) for r in rows)
        embeds = rows[0].new_zeros(len(rows), longest, rows[0].shape[1])
        mask = torch.zeros(len(rows), longest, dtype=torch.long, device=embeds.device)
        label_pad = torch.full((len(rows), longest), IGNORE, dtype=torch.long, device=embeds.device)
        for b, (r, lab) in enumerate(zip(rows, labels, strict=True)):
            embeds[b, : len(r)], mask[b, : len(r)], label_pad[b, : len(r)] = r, 1, lab
        return embeds, mask, label_pad

    def token_losses(self, embeds, mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy over response tokens and their count (the LM's own shift by one).

        The LM head runs only on the positions that predict a labelled token: the vocabulary projection of
        every prompt and audio position (and its backward) was most of the waste of a cached-feature step."""
        hidden = self.llm.get_decoder()(
            inputs_embeds=embeds, attention_mask=mask, use_cache=False
        ).last_hidden_state  # (B, S, D)
        targets = labels[:, 1:]  # (B, S-1): position t predicts token t+1
        scored = targets != IGNORE
        logits = self.llm.get_output_embeddings()(hidden[:, :-1][scored]).float()  # (N, V)
        total = nn.functional.cross_entropy(logits, targets[scored], reduction="sum")
        return total, scored.sum()


def load_frozen_llm(ref: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from speechalign.models import model_path

    folder = model_path(ref)
    llm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return llm.eval().requires_grad_(False), AutoTokenizer.from_pretrained(folder)


def load_checkpoint(folder: str | os.PathLike, llm=None, tokenizer=None) -> SiftSpeechLLM:
    """The whole model from a checkpoint folder alone (the LM is loaded from the reference it records)."""
    config = read_checkpoint_config(folder)
    if llm is None:
        llm, tokenizer = load_frozen_llm(config.llm)
    return SiftSpeechLLM(config, llm, tokenizer, load_projectors(folder, config))
