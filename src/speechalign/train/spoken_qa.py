"""Does a trained projector make the composed model answer spoken questions better than an untrained one?

On the spoken-QA corpus's held-out items (passage audio, question, located answer), each model is prompted as
the ALAS stage prompts it (the backends' system prompt, layout and ``sqa`` instruction) and scored by:

- ``answer_nll``: teacher-forced negative log-likelihood per token of the gold answer (lower is better);
- ``text_answer_nll``: the same for the answer the frozen LLM gives when it reads the transcript instead of
  the audio (what SIFT teaches the model to reproduce; lower is better);
- ``contains_answer`` and ``token_f1``: the greedy answer scored against the gold answer by the benchmark's
  spoken-QA scorer (``speechalign.metrics.bench.scorers.score_sqa``: normalised tokens, gold contained, SQuAD
  token F1; higher is better; an empty answer scores 0).

The untrained control is the same architecture with the projectors at their seeded initialisation (the
weights training starts from). The text run (transcript in place of the audio) is the upper bound; it is the
frozen LLM's alone, so a trained model's check takes it from its control's result when everything it depends
on is the same (``text_run_key``) instead of generating it again.

Trained vs untrained (``vs_untrained``, when the control's result is given): per item, the difference of
each score (trained minus untrained, on the same items), its mean with the project's paired interval and
sign-flip p-value (``speechalign.metrics.intervals.paired_comparison``: one seed here, so an item bootstrap),
and how many items got better, worse or stayed equal. The comparison is measurable when the interval excludes
0.

    speechalign train spoken-qa --checkpoint data/sift/models/sift_s/seed0 --manifest data/corpora/sqa \
        --control results/train/qa/untrained-semantic/seed0.json --out results/train/qa/sift_s/seed0.json
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from speechalign.errors import UserFacingError
from speechalign.train.model import PromptPieces, SiftSpeechLLM, prompt_pieces

MAX_SECONDS = 30.0  # the Whisper encoder's window


@dataclass(frozen=True)
class QAItem:
    id: str
    question_prompt: str  # the sqa instruction with the question filled in
    answer: str
    transcript: str
    semantic: torch.Tensor  # (P, d)
    paralinguistic: torch.Tensor  # (P, d)


def qa_utterances(utterances: Sequence, limit: int | None) -> list:
    """Held-out items with a question and an answer that fit the encoder window, the first ``limit``."""
    kept = [
        u for u in utterances if u.split != "train" and u.question and u.answer and u.duration <= MAX_SECONDS
    ]
    return kept[:limit] if limit else kept


def audio_response_nll(model: SiftSpeechLLM, pieces: PromptPieces, item: QAItem) -> float:
    """Mean NLL per response token of ``pieces.response`` after the audio prompt (a forward of its own)."""
    with torch.no_grad():
        total, count = model.response_losses([pieces], [audio_slot(model, item)])
    return float(total / count)


def transcript_ids(model: SiftSpeechLLM, item: QAItem) -> list[int]:
    return model.tokenizer(item.transcript, add_special_tokens=False).input_ids


def audio_slot(model: SiftSpeechLLM, item: QAItem) -> torch.Tensor:
    """``(A_slot, D)``: the projected audio as it stands in the speech slot."""
    para = [item.paralinguistic] if model.config.dual else None
    sem, para_out = model.projectors([item.semantic], para)
    return model.slots(sem, para_out)[0]


def prompt_embeddings(model: SiftSpeechLLM, pieces: PromptPieces, slot: torch.Tensor) -> torch.Tensor:
    """``(S, D)``: the prompt up to the assistant header with ``slot`` in the speech slot."""
    return torch.cat([model.embed_ids(pieces.before), slot, model.embed_ids(pieces.after)])


ANSWER_BATCH = 16  # prompts per generation batch (decoding reads the weights once per step for all of them)


@torch.no_grad()
def greedy_answers(
    model: SiftSpeechLLM,
    prompts: Sequence[torch.Tensor],
    max_new_tokens: int,
    responses: Sequence[Sequence[int]] | None = None,
) -> tuple[list[str], list[float | None]]:
    """Greedy answers of prompts ``(S_i, D)``, batched as the evaluate stage's
    (``speechalign.backends.base.greedy_tokens_scoring``), each cut at its first end token; and the mean NLL
    per token of ``responses[i]`` (token ids) teacher-forced after prompt i, read off the generation's
    prefill (None without ``responses``)."""
    from speechalign.backends.base import greedy_tokens_scoring
    from speechalign.sift.targets import end_token_ids, split_generation

    ends = end_token_ids(model.tokenizer, model.llm)
    responses = responses or [None] * len(prompts)
    tokens, totals = greedy_tokens_scoring(
        model.llm,
        prompts,
        responses,
        max_new_tokens,
        ANSWER_BATCH,
        pad_token_id=model.tokenizer.pad_token_id or model.tokenizer.eos_token_id,
    )
    answers = [split_generation(ids, ends, model.tokenizer).text for ids in tokens]
    means = [None if t is None else t / len(r) for t, r in zip(totals, responses, strict=True)]
    return answers, means


@torch.no_grad()
def score_model(
    model: SiftSpeechLLM,
    items: Sequence[QAItem],
    system_prompt: str,
    text_answers: Mapping[str, str],
    max_new_tokens: int,
    text_run_nlls: Mapping[str, float],
) -> dict:
    """The three scores of the audio run, and the text run's as the upper bound (``text_answers`` and
    ``text_run_nlls``: the text run's answers and gold-answer NLLs by item, from ``text_run``). The gold
    answer's NLL comes from the generation's own prefill; the text answer's takes a forward of its own."""
    from tqdm import tqdm

    golds = [answer_pieces(model, system_prompt, item, item.answer) for item in items]
    prompts = [
        prompt_embeddings(model, gold, audio_slot(model, item))
        for gold, item in zip(golds, items, strict=True)
    ]
    answers, gold_nlls = greedy_answers(model, prompts, max_new_tokens, [gold.response for gold in golds])
    rows = []
    for item, answer, gold_nll in zip(
        tqdm(items, desc="spoken QA", unit="item", mininterval=2), answers, gold_nlls, strict=True
    ):
        self_target = answer_pieces(model, system_prompt, item, text_answers[item.id])
        rows.append(
            {
                "id": item.id,
                "answer_nll": gold_nll,
                "text_answer_nll": audio_response_nll(model, self_target, item),
                "text_run_answer_nll": text_run_nlls[item.id],
                **answer_scores(answer, item.answer),
                "answer": answer,
                "text_answer": text_answers[item.id],
            }
        )
    n = max(len(rows), 1)
    means = {k: sum(r[k] for r in rows) / n for k in (*NLL_SCORES, *ANSWER_SCORES)}
    key = text_run_key(model, items, system_prompt, max_new_tokens)
    return {"items": len(rows), **means, "text_run": key, "rows": rows}


def answer_pieces(model: SiftSpeechLLM, system_prompt: str, item: QAItem, response: str) -> PromptPieces:
    """The item's prompt around the speech slot, with ``response`` (and its end token) as the response."""
    return prompt_pieces(
        model.tokenizer, system_prompt, item.question_prompt, model.config.layout, response, False
    )


NLL_SCORES = ("answer_nll", "text_answer_nll", "text_run_answer_nll")
ANSWER_SCORES = ("contains_answer", "token_f1")
# the scores compared with the untrained control, and whether higher is better
COMPARED = {"answer_nll": False, "token_f1": True, "contains_answer": True}


def answer_scores(answer: str, gold: str) -> dict:
    """``contains_answer`` (0/1) and ``token_f1`` of a greedy answer, by the benchmark's spoken-QA scorer."""
    from speechalign.metrics.bench.scorers import score_sqa

    metrics = score_sqa(answer, [gold]).metrics
    return {"contains_answer": metrics["contained"], "token_f1": metrics["f1"]}


def compare_with_control(
    trained_rows: Sequence[Mapping],
    control_rows: Sequence[Mapping],
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> dict:
    """Trained minus untrained, item by item, for each score of ``COMPARED``: the mean difference with its
    paired interval and sign-flip p-value (``speechalign.metrics.intervals.paired_comparison``; one seed, so
    the interval is the item bootstrap), and the items that got better / worse / stayed equal.

    >>> t = [{"id": "a", "answer_nll": 1.0, "token_f1": 0.5, "contains_answer": 1.0},
    ...      {"id": "b", "answer_nll": 2.0, "token_f1": 0.0, "contains_answer": 0.0}]
    >>> c = [{"id": "b", "answer_nll": 3.0, "token_f1": 0.0, "contains_answer": 0.0},
    ...      {"id": "a", "answer_nll": 1.5, "token_f1": 0.0, "contains_answer": 0.0}]
    >>> r = compare_with_control(t, c, confidence=0.95, resamples=1000)["answer_nll"]
    >>> r["difference"], r["better"], r["worse"], r["ties"], r["p_value"]
    (-0.75, 2, 0, 0, 0.5)
    """
    import numpy as np

    control = {r["id"]: r for r in control_rows}
    ids = [r["id"] for r in trained_rows]
    if sorted(ids) != sorted(control):
        raise UserFacingError(
            "the untrained control was scored on other items than the trained model: rerun both with the "
            "same corpus and --limit"
        )
    out: dict = {"items": len(ids)}
    for key, higher_is_better in COMPARED.items():
        trained = np.array([[r[key] for r in trained_rows]], dtype=float)  # (1 seed, N items)
        untrained = np.array([[control[i][key] for i in ids]], dtype=float)
        gain = (trained - untrained)[0] * (1 if higher_is_better else -1)
        out[key] = {
            **comparison_fields(trained, untrained, confidence, resamples, seed),
            "higher_is_better": higher_is_better,
            "better": int((gain > 0).sum()),
            "worse": int((gain < 0).sum()),
            "ties": int((gain == 0).sum()),
        }
    return out


def comparison_fields(trained, untrained, confidence: float, resamples: int, seed: int) -> dict:
    """difference, low, high, p_value of trained minus untrained (NaN without items)."""
    from speechalign.metrics.intervals import paired_comparison

    if trained.size == 0:
        return dict.fromkeys(("difference", "low", "high", "p_value"), math.nan)
    c = paired_comparison(trained, untrained, confidence, resamples, seed)
    return {"difference": c.difference, "low": c.low, "high": c.high, "p_value": c.p_value}


@torch.no_grad()
def text_run(
    model: SiftSpeechLLM, items: Sequence[QAItem], system_prompt: str, max_new_tokens: int
) -> tuple[dict[str, str], dict[str, float]]:
    """The text run, by item: what the frozen LLM answers with the transcript where the audio was (the
    SIFT-style reference), and the gold answer's NLL there, from the same generation's prefill."""
    golds = [answer_pieces(model, system_prompt, item, item.answer) for item in items]
    prompts = [
        prompt_embeddings(model, gold, model.embed_ids(transcript_ids(model, item)))
        for gold, item in zip(golds, items, strict=True)
    ]
    answers, nlls = greedy_answers(model, prompts, max_new_tokens, [gold.response for gold in golds])
    ids = [item.id for item in items]
    return {i: answer or "." for i, answer in zip(ids, answers, strict=True)}, dict(
        zip(ids, nlls, strict=True)
    )


def text_run_key(
    model: SiftSpeechLLM, items: Sequence[QAItem], system_prompt: str, max_new_tokens: int
) -> dict:
    """Everything the text run and its gold-answer NLLs depend on (the frozen LLM, the prompt, the items'
    questions, transcripts and answers; not the projectors): a result's text run is reused only where this
    is the same."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for item in items:
        digest.update("\0".join((item.id, item.question_prompt, item.transcript, item.answer, "")).encode())
    return {
        "llm": model.config.llm,
        "layout": model.config.layout,
        "system_prompt": system_prompt,
        "max_new_tokens": max_new_tokens,
        "dtype": str(model.llm.dtype),
        "items": digest.hexdigest(),
    }


def reused_text_run(control: Mapping, key: Mapping) -> tuple[dict, dict] | None:
    """The control's text-run answers and gold-answer NLLs by item when its text run was this one (same
    ``text_run_key``), else None: the trained model's spoken-QA check then need not run the text run again."""
    if control.get("text_run") != key:
        return None
    rows = control["rows"]
    return {r["id"]: r["text_answer"] for r in rows}, {r["id"]: r["text_run_answer_nll"] for r in rows}
