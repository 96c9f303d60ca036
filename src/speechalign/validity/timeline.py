"""Which transcript token is being spoken at each audio position: built from the exact word times and the
encoder's own geometry, by code that shares nothing with ``speechalign.metrics.alas.reference_path``.

A positive control laid out along the reference path it is scored against scores 0 whatever the backend's
timing (docs/facts.md#raw-cosine-at-small-scale: 0 even with the frame length wrong by 2x). The oracle and
the aligned projector's targets therefore take their layout from here:

1. *Where each audio position sits in time* is derived from the modules, not from the backend's declared
   ``frame_seconds`` / ``offset_seconds``: the feature extractor's hop (mel frame k centred at sample
   ``k * hop``, a centred STFT), the strides of the encoder's convolutions, and the projector's stack (an LM
   position is the mean of ``stack`` consecutive encoder positions). A wrong declared frame length or offset
   then shows up as a mismatch between the control and the reference.
2. *Which token is spoken at time t*: inside a word, the word's duration is shared among its characters,
   and t falls on the token holding the character spoken then (so a long BPE piece gets a long share; no
   token -> word map is needed). In a pause, the last character of the word before it (before the first
   word: its first character).

    >>> tokens = spoken_tokens([(0.1, 0.3), (0.5, 0.7)], [(0, 3), (4, 9)],  # "cat house": "cat", " ho", "use"
    ...                        [(0, 3), (3, 6), (6, 9)], np.array([0.0, 0.2, 0.4, 0.55, 0.65, 0.9]))
    >>> tokens.tolist()
    [0, 0, 0, 1, 2, 2]
"""

from __future__ import annotations

import numpy as np

__all__ = ["position_centres", "spoken_tokens"]


def _stride(conv) -> int:
    stride = conv.stride
    return int(stride[0] if isinstance(stride, tuple) else stride)


def position_centres(backend, n_positions: int) -> np.ndarray:
    """Centre time in seconds of each of the first ``n_positions`` LM audio positions of a composed backend
    (a Whisper-style encoder with ``conv1`` and ``conv2``; ``feature_extractor.hop_length``;
    ``projector.config.stack``), ``(A,)`` float64. Encoder position p covers mel frames ``s*p - 1 .. s*p + 1``
    (kernel 3, padding 1, stride s), so it is centred on mel frame ``s*p``."""
    encoder, extractor = backend.encoder, backend.feature_extractor
    mel_stride = _stride(encoder.conv1) * _stride(encoder.conv2)  # mel frames per encoder position
    seconds_per_encoder_position = mel_stride * extractor.hop_length / extractor.sampling_rate
    stack = backend.projector.config.stack
    first_encoder_position = np.arange(n_positions) * stack  # (A,)
    return (first_encoder_position + (stack - 1) / 2) * seconds_per_encoder_position


def _token_of_chars(token_chars: np.ndarray, chars: np.ndarray) -> np.ndarray:
    """The token whose ``[start, end)`` holds each character; a character between tokens (a space the
    tokenizer kept out of every token) takes the next token, and past the last token the last one."""
    ends = token_chars[:, 1]
    return np.minimum(np.searchsorted(ends, chars, side="right"), len(token_chars) - 1)


def spoken_tokens(word_times, word_chars, token_chars, centres: np.ndarray) -> np.ndarray:
    """Token index spoken at each time in ``centres``, ``(A,)`` int64 (rules in the module docstring).

    ``word_times``: ``(W, 2)`` seconds, sorted; ``word_chars``: ``(W, 2)`` character span of each word in the
    transcript; ``token_chars``: ``(T, 2)`` character span of each transcript token, in order."""
    times = np.asarray(word_times, dtype=np.float64).reshape(-1, 2)
    words = np.asarray(word_chars, dtype=np.int64).reshape(-1, 2)
    tokens = np.asarray(token_chars, dtype=np.int64).reshape(-1, 2)
    if not len(times) or len(times) != len(words) or not len(tokens):
        raise ValueError(f"need matching word times ({len(times)}) and spans ({len(words)}), and tokens")
    started = np.searchsorted(times[:, 0], centres, side="right") - 1  # (A,) last word begun; -1 before any
    word = np.maximum(started, 0)
    start, end = times[word, 0], times[word, 1]
    first_char, n_chars = words[word, 0], words[word, 1] - words[word, 0]
    share = np.clip((centres - start) / np.maximum(end - start, 1e-9), 0.0, 1.0)
    inside = first_char + np.minimum((share * n_chars).astype(np.int64), n_chars - 1)
    char = np.where(started < 0, first_char, np.where(centres < end, inside, first_char + n_chars - 1))
    return _token_of_chars(tokens, char).astype(np.int64)
