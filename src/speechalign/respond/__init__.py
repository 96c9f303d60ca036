"""Responses and the agreement filter: every speech LLM answers the audio prompt and the text prompt of each
utterance (greedy); Sentence-BERT cosine between the two answers; a pair is kept for ALAS when the cosine is
at least the threshold (the ALAS paper: 0.7). Every pair's similarity and decision is recorded, and every
utterance a backend cannot take is recorded with its reason."""

from speechalign.respond.respond import (
    RESPONSE_COLUMNS,
    agreement,
    prepare_runs,
    respond_corpus,
    select_utterances,
    task_of,
)

__all__ = ["RESPONSE_COLUMNS", "agreement", "prepare_runs", "respond_corpus", "select_utterances", "task_of"]
