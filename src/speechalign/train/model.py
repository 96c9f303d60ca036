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

Only response tokens carry the loss: everything up to and including the assistant header is context, and the
response is the target's tokens plus the end token unless the target was truncated.

The loss (:meth:`SiftSpeechLLM.response_losses`) spends compute only where the projectors' gradient flows:

- the chat template up to the speech slot (``PromptPieces.before``: the system prompt and the user header) is
  the same for every example and depends on no trained weight: the frozen LM's key/value states of it are
  computed once, without gradients, and every example's forward continues from them (``past_key_values``);
- each example runs on its own sequence (speech slot, ``after``, response), unpadded: a padded batch spent a
  third of its positions on padding and the shared prefix at the small profile's shapes;
- the last response token predicts nothing, so it is not an input; the LM head runs on the positions that
  predict a response token only.

The straightforward computation (the whole prompt and response in one padded batch, logits of every position)
gives the same loss and gradients to float tolerance (tests/train/test_model.py); benchmarks/bench_sift.py
keeps the implementation before it as the baseline it is timed against. :func:`response_nll` is the one
teacher-forced NLL of the project: the evaluate stage's behaviour match scores answers with it too.

A checkpoint is a folder (``speechalign.backends.checkpoint``); :func:`load_checkpoint` rebuilds the whole
model from it alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    """Frozen LM + tokenizer + trainable :class:`Projectors`; the teacher-forced response loss per example."""

    def __init__(self, config: SiftModelConfig, llm: nn.Module, tokenizer, projectors: Projectors):
        super().__init__()
        self.config = config
        self.llm = llm.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.projectors = projectors
        self._tag_ids = dual_tag_ids(tokenizer)
        self._prefixes: dict = {}  # prefix_states' cache

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

    def prefix_states(self, ids: Sequence[int]) -> list:
        """The frozen LM's key/value states of the token prefix ``ids``, computed once without gradients (they
        depend on no trained weight) and kept per prefix, device and autocast state."""
        key = (tuple(ids), self.device, torch.is_autocast_enabled(self.device.type))
        if key not in self._prefixes:
            with torch.no_grad():
                out = self.llm.get_decoder()(inputs_embeds=self.embed_ids(list(ids))[None], use_cache=True)
            self._prefixes[key] = list(out.past_key_values)  # per layer: (keys, values, sliding window)
        return self._prefixes[key]

    def response_loss(self, pieces: PromptPieces, slot: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy of ``pieces.response`` after ``before``, ``slot (A, D)`` (the projected audio,
        or any embeddings standing in the speech slot) and ``after``: one unpadded sequence continuing from
        the cached states of ``before``."""
        from transformers import DynamicCache

        context = torch.cat([slot, self.embed_ids(pieces.after)])  # (C, D)
        past = None
        if pieces.before:
            past = DynamicCache(self.prefix_states(pieces.before), config=self.llm.config)
        return response_nll(self.llm, context, pieces.response, past, start=len(pieces.before))

    def response_losses(
        self, pieces: Sequence[PromptPieces], slots: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        """Summed response-token cross-entropy over examples (``slots[i] (A_i, D)`` stands in example i's
        speech slot) and the number of response tokens."""
        total = sum(self.response_loss(p, slot) for p, slot in zip(pieces, slots, strict=True))
        return total, sum(len(p.response) for p in pieces)

    def slots(self, sem: Sequence[torch.Tensor], para: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        """Each example's speech slot ``(A_i, D)`` from its projected semantic (and paralinguistic) audio."""
        return [self.speech_slot(s, None if para is None else para[i]) for i, s in enumerate(sem)]


def response_nll(llm, context: torch.Tensor, response: Sequence[int], past=None, start: int = 0):
    """Summed cross-entropy of the token ids ``response`` teacher-forced after ``context (C, D)`` (input
    embeddings, C >= 1), which continues ``past`` (the LM's states of the ``start`` positions before it; None:
    nothing before). The last response token is not an input (it predicts nothing) and the LM head runs on
    the positions that predict a response token only."""
    device = next(llm.parameters()).device
    ids = torch.as_tensor(list(response), dtype=torch.long, device=device)  # (R,)
    inputs = torch.cat([context.to(device), llm.get_input_embeddings()(ids[:-1])])  # (C + R - 1, D)
    positions = torch.arange(start, start + len(inputs), device=device)[None]  # (1, S)
    hidden = llm.get_decoder()(
        inputs_embeds=inputs[None], past_key_values=past, position_ids=positions, use_cache=past is not None
    ).last_hidden_state[0]  # (S, D)
    logits = llm.get_output_embeddings()(hidden[len(context) - 1 :]).float()  # (R, V)
    return nn.functional.cross_entropy(logits, ids, reduction="sum")


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
