"""The ALAS stage: a speech LLM answers the audio and the text prompt of each utterance (greedy), the
Sentence-BERT agreement filter keeps a pair when the two answers agree (cosine >= the threshold; the ALAS
paper: 0.7), and every utterance is scored layer by layer (``speechalign.metrics.alas`` does the math) into a
tidy table and a per-model summary with bootstrap intervals. Every utterance a backend cannot take is recorded
with its reason.

``respond``: the answers and the filter; ``measure``: the scores, the table and the summary; ``run``: any
model on your own recordings. The package imports nothing itself, so that ``speechalign alas --help`` and a
respond job do not pay for the scoring code's imports (numba, scipy).
"""
