"""The ALAS scoring stage: per utterance and layer, the ALAS score of a speech LLM (``speechalign.alas`` does
the math), written as a tidy table with the response filter's decision, plus a per-model summary with
bootstrap intervals."""

from speechalign.scoring.score import (
    TABLE_COLUMNS,
    score_corpus,
    score_utterance,
    summarise,
    word_char_spans,
)

__all__ = ["TABLE_COLUMNS", "score_corpus", "score_utterance", "summarise", "word_char_spans"]
