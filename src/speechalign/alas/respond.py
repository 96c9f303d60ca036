"""Greedy answers for both runs of every utterance, and the SBERT agreement decision.

table = respond_corpus(backend, utterances, task="sqa", backends_params=..., sbert=model, threshold=0.7)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from speechalign.backends import BackendInputError, Run, SpeechLLM, task_instruction
from speechalign.backends.audio import load_wave

log = logging.getLogger(__name__)

RESPONSE_COLUMNS = [
    "utterance",  # id
    "task",  # the prompt's task (sqa, emotion)
    "status",  # "ok", or "rejected" (then ``reason`` says why and nothing else is filled)
    "reason",
    "duration",  # seconds of audio
    "audio_response",  # answer to the audio prompt
    "text_response",  # answer to the text prompt
    "similarity",  # SBERT cosine of the two answers
    "kept",  # similarity >= threshold: the pair is scored by the ALAS paper's rule
    "threshold",
]


def task_of(corpus: str, tasks: Mapping[str, str]) -> str:
    """The task a corpus is prompted with (params ``backends.tasks``)."""
    if corpus not in tasks:
        raise BackendInputError(f"no task for corpus {corpus!r}; params backends.tasks has {sorted(tasks)}")
    return tasks[corpus]


@dataclass
class PreparedPair:
    utterance: Any
    audio: Run | None
    text: Run | None
    reason: str | None  # why the pair cannot run, or None


def prepare_runs(backend: SpeechLLM, utterance, task: str, prompts: Mapping[str, str]) -> PreparedPair:
    """Both runs of one utterance, or the reason it is rejected (recorded, never silently dropped)."""
    try:
        instruction = task_instruction(task, prompts, question=utterance.question)
        wave = load_wave(utterance.audio_path, backend.sample_rate)
        audio = backend.audio_run(wave, instruction)
        text = backend.text_run(utterance.text, instruction)
    except BackendInputError as err:
        return PreparedPair(utterance, None, None, str(err))
    return PreparedPair(utterance, audio, text, None)


def agreement(sbert, first: Sequence[str], second: Sequence[str]) -> np.ndarray:
    """SBERT cosine of ``first[i]`` and ``second[i]``, ``(N,)`` float64. An empty answer scores 0."""
    if not first:
        return np.zeros(0)
    a = sbert.encode(list(first), normalize_embeddings=True, convert_to_numpy=True)  # (N, E)
    b = sbert.encode(list(second), normalize_embeddings=True, convert_to_numpy=True)  # (N, E)
    cosine = np.einsum("ne,ne->n", a.astype(np.float64), b.astype(np.float64))
    empty = np.array([not x.strip() or not y.strip() for x, y in zip(first, second, strict=True)])
    return np.where(empty, 0.0, cosine)


def respond_corpus(
    backend: SpeechLLM,
    utterances: Sequence,
    task: str,
    prompts: Mapping[str, str],
    sbert,
    threshold: float,
    max_new_tokens: int,
    batch_size: int,
) -> pd.DataFrame:
    """One row per utterance (``RESPONSE_COLUMNS``): both answers, their agreement and the decision."""
    pairs = [prepare_runs(backend, u, task, prompts) for u in tqdm(utterances, desc="prompts", unit="utt")]
    ready = [p for p in pairs if p.reason is None]
    runs = [r for p in ready for r in (p.audio, p.text)]
    answers: list[str] = []
    for first in tqdm(range(0, len(runs), batch_size), desc="generate", unit="batch"):
        answers += backend.generate(runs[first : first + batch_size], max_new_tokens, batch_size)
    audio_answers, text_answers = answers[0::2], answers[1::2]
    similarity = agreement(sbert, audio_answers, text_answers)
    by_id = {p.utterance.id: i for i, p in enumerate(ready)}
    rows = []
    for pair in pairs:
        utt = pair.utterance
        row = {"utterance": utt.id, "task": task, "duration": utt.duration, "threshold": threshold}
        if pair.reason is not None:
            log.warning("%s rejected: %s", utt.id, pair.reason)
            rows.append(row | {"status": "rejected", "reason": pair.reason, "kept": False})
            continue
        i = by_id[utt.id]
        rows.append(
            row
            | {
                "status": "ok",
                "reason": "",
                "audio_response": audio_answers[i],
                "text_response": text_answers[i],
                "similarity": float(similarity[i]),
                "kept": bool(similarity[i] >= threshold),
            }
        )
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)
