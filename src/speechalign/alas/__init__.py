"""The ALAS stage: a speech LLM answers the audio and the text prompt of each utterance (greedy), the
Sentence-BERT agreement filter keeps a pair when the two answers agree (cosine >= the threshold; the ALAS
paper: 0.7), and every utterance is scored layer by layer (``speechalign.metrics.alas`` does the math) into a
tidy table and a per-model summary with bootstrap intervals. Every utterance a backend cannot take is recorded
with its reason."""

from speechalign.alas.measure import (
    TABLE_COLUMNS,
    score_corpus,
    score_utterance,
    summarise,
    word_char_spans,
)
from speechalign.alas.respond import (
    RESPONSE_COLUMNS,
    agreement,
    prepare_runs,
    respond_corpus,
    task_of,
)

__all__ = [
    "RESPONSE_COLUMNS",
    "TABLE_COLUMNS",
    "agreement",
    "prepare_runs",
    "respond_corpus",
    "score_corpus",
    "score_utterance",
    "summarise",
    "task_of",
    "word_char_spans",
]
