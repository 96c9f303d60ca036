"""Does a trained projector make the composed model answer spoken questions better than an untrained one?

On the spoken-QA corpus's held-out items (passage audio, question, located answer), each model is prompted as
the ALAS stage prompts it (the backends' system prompt, layout and ``sqa`` instruction) and scored by:

- ``answer_nll``: teacher-forced negative log-likelihood per token of the gold answer (lower is better);
- ``text_answer_nll``: the same for the answer the frozen LLM gives when it reads the transcript instead of
  the audio (what SIFT teaches the model to reproduce; lower is better);
- ``contains_answer``: share of greedy answers containing the gold answer (higher is better).

The untrained control is the same architecture with the projectors at their seeded initialisation (the
weights training starts from). The text run (transcript in place of the audio) is the upper bound.

    speechalign sift-eval --checkpoint data/sift/models/sift_s --manifest data/corpora/sqa \
        --out results/train/qa/sift_s.json
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from speechalign.sift.model import IGNORE, PromptPieces, SiftSpeechLLM, prompt_pieces

MAX_SECONDS = 30.0  # the Whisper encoder's window


@dataclass(frozen=True)
class QAItem:
    id: str
    question_prompt: str  # the sqa instruction with the question filled in
    answer: str
    transcript: str
    semantic: torch.Tensor  # (P, d)
    paralinguistic: torch.Tensor  # (P, d)


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def qa_utterances(utterances: Sequence, limit: int | None) -> list:
    """Held-out items with a question and an answer that fit the encoder window, the first ``limit``."""
    kept = [
        u for u in utterances if u.split != "train" and u.question and u.answer and u.duration <= MAX_SECONDS
    ]
    return kept[:limit] if limit else kept


def sequence_nll(model: SiftSpeechLLM, pieces: PromptPieces, item: QAItem, text_run: bool) -> float:
    """Mean NLL per response token of ``pieces.response`` after the audio (or the transcript) prompt."""
    with torch.no_grad():
        if text_run:
            ids = model.tokenizer(item.transcript, add_special_tokens=False).input_ids
            prefix = torch.cat(
                [model.embed_ids(pieces.before), model.embed_ids(ids), model.embed_ids(pieces.after)]
            )
        else:
            prefix = model_prompt_embeddings(model, pieces, item)
        embeds = torch.cat([prefix, model.embed_ids(pieces.response)])[None]  # (1, S, D)
        labels = torch.tensor([[IGNORE] * len(prefix) + pieces.response])
        total, count = model.token_losses(embeds, torch.ones_like(labels), labels)
    return float(total / count)


def model_prompt_embeddings(model: SiftSpeechLLM, pieces: PromptPieces, item: QAItem) -> torch.Tensor:
    """``(S, D)``: the prompt up to the assistant header with the projected audio in the speech slot."""
    para = [item.paralinguistic] if model.config.dual else None
    sem, para_out = model.projectors([item.semantic], para)
    slot = model.speech_slot(sem[0], None if para_out is None else para_out[0])
    return torch.cat([model.embed_ids(pieces.before), slot, model.embed_ids(pieces.after)])


@torch.no_grad()
def greedy_answer(model: SiftSpeechLLM, prompt: torch.Tensor, max_new_tokens: int) -> str:
    from speechalign.sift.targets import end_token_ids, split_generation

    out = model.llm.generate(
        inputs_embeds=prompt[None],
        attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=model.tokenizer.pad_token_id or model.tokenizer.eos_token_id,
    )  # (1, new): with inputs_embeds only the new tokens come back
    return split_generation(out[0].tolist(), end_token_ids(model.tokenizer, model.llm), model.tokenizer).text


@torch.no_grad()
def evaluate(
    model: SiftSpeechLLM,
    items: Sequence[QAItem],
    system_prompt: str,
    text_answers: Mapping[str, str],
    max_new_tokens: int,
) -> dict:
    """The three scores of the audio run, and the text run's as the upper bound."""
    from tqdm import tqdm

    rows = []
    for item in tqdm(items, desc="spoken QA", unit="item", mininterval=2):
        gold = prompt_pieces(
            model.tokenizer, system_prompt, item.question_prompt, model.config.layout, item.answer, False
        )
        self_target = prompt_pieces(
            model.tokenizer,
            system_prompt,
            item.question_prompt,
            model.config.layout,
            text_answers[item.id],
            False,
        )
        answer = greedy_answer(model, model_prompt_embeddings(model, gold, item), max_new_tokens)
        rows.append(
            {
                "id": item.id,
                "answer_nll": sequence_nll(model, gold, item, text_run=False),
                "text_answer_nll": sequence_nll(model, self_target, item, text_run=False),
                "text_run_answer_nll": sequence_nll(model, gold, item, text_run=True),
                "contains_answer": normalise(item.answer) in normalise(answer),
                "answer": answer,
            }
        )
    n = max(len(rows), 1)
    return {
        "items": len(rows),
        "answer_nll": sum(r["answer_nll"] for r in rows) / n,
        "text_answer_nll": sum(r["text_answer_nll"] for r in rows) / n,
        "contains_answer": sum(r["contains_answer"] for r in rows) / n,
        "text_run_answer_nll": sum(r["text_run_answer_nll"] for r in rows) / n,
        "rows": rows,
    }


@torch.no_grad()
def text_run_answers(
    model: SiftSpeechLLM, items: Sequence[QAItem], system_prompt: str, max_new_tokens: int
) -> dict:
    """What the frozen LLM answers with the transcript where the audio was (the SIFT-style reference)."""
    answers = {}
    for item in items:
        pieces = prompt_pieces(
            model.tokenizer, system_prompt, item.question_prompt, model.config.layout, "", True
        )
        ids = model.tokenizer(item.transcript, add_special_tokens=False).input_ids
        prompt = torch.cat(
            [model.embed_ids(pieces.before), model.embed_ids(ids), model.embed_ids(pieces.after)]
        )
        answers[item.id] = greedy_answer(model, prompt, max_new_tokens) or "."
    return answers
