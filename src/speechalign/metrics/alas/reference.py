"""Reference path: which transcript token (and word) each audio position should align to.

Two mappings, both explicit:

1. Time -> audio position, at the backend's true frame rate. Audio position ``i`` covers
   ``[offset + i * frame, offset + (i + 1) * frame)`` seconds and is placed at its centre
   ``c_i = offset + (i + 0.5) * frame``. (Not proportional scaling to the number of rows.)
2. Token -> word, through tokenizer character offsets: a token belongs to the word whose character span it
   overlaps most (ties: the earlier word), so the BPE pieces of one word share its index. A token that
   overlaps no word (punctuation, a lone space, a special token) belongs to the word before it, or to word 0
   when none comes before.

Rows that fall outside speech, by rule:

- before the first word's start: the first word, at its first token (MAS also starts at token 0);
- in a gap between words (after word w ends, before w+1 starts): word w, at its last token (the path stays);
- after the last word: the last word, at its last token;
- rows inside word w (``start_w <= c_i < min(end_w, start_w+1)``) spread evenly over w's tokens:
  the k-th of n rows takes token ``first_w + floor(k * m / n)`` for a word of m tokens.

A word too short to contain any row centre gets no row: the reference skips it (and its tokens), exactly as a
word that starts after the audio ends. ``ReferencePath.words_without_rows`` lists them so callers can report
how often this happens. A word that no token overlaps (two words merged in one token) shares the token before
it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ReferencePath", "reference_path", "row_times", "token_words"]


@dataclass(frozen=True)
class ReferencePath:
    """Per-audio-row reference, plus the token -> word map that the score needs for word units.

    ``token_per_row``: ``(A,)`` int64 reference token of each audio position;
    ``word_per_row``: ``(A,)`` int64 reference word of each audio position;
    ``token_word``: ``(T,)`` int64 word of each token (non-decreasing);
    ``n_words``: number of words; ``words_without_rows``: words that no audio position maps to.
    """

    token_per_row: np.ndarray
    word_per_row: np.ndarray
    token_word: np.ndarray
    n_words: int
    words_without_rows: tuple[int, ...]

    @property
    def n_audio(self) -> int:
        return len(self.token_per_row)

    @property
    def n_text(self) -> int:
        return len(self.token_word)


def row_times(n_audio: int, frame_seconds: float, offset_seconds: float = 0.0) -> np.ndarray:
    """Centre time in seconds of each audio position, ``(A,)``: ``offset + (i + 0.5) * frame_seconds``.

    >>> row_times(3, 0.04, offset_seconds=1.0).round(3).tolist()
    [1.02, 1.06, 1.1]
    """
    if not np.isfinite(frame_seconds) or frame_seconds <= 0:
        raise ValueError(f"frame_seconds must be positive seconds per audio position; got {frame_seconds}")
    if not np.isfinite(offset_seconds):
        raise ValueError(f"offset_seconds must be finite; got {offset_seconds}")
    if n_audio < 1:
        raise ValueError(f"need at least one audio position; got n_audio={n_audio}")
    return offset_seconds + (np.arange(n_audio) + 0.5) * frame_seconds


def _spans(spans, role: str) -> np.ndarray:  # -> (N, 2)
    spans = np.asarray(spans)
    if spans.size == 0:
        raise ValueError(f"{role} is empty: nothing to align")
    if spans.ndim != 2 or spans.shape[1] != 2:
        raise ValueError(f"{role} must be a list of (start, end) pairs; got shape {spans.shape}")
    if not np.isfinite(spans).all():
        raise ValueError(f"{role} contains NaN or inf")
    if (spans[:, 1] < spans[:, 0]).any():
        first = int(np.argmax(spans[:, 1] < spans[:, 0]))
        raise ValueError(f"{role}[{first}] ends before it starts: {spans[first].tolist()}")
    return spans


def token_words(token_char_spans, word_char_spans) -> np.ndarray:
    """Word index of each token, ``(T,)`` int64, from character offsets (see the module docstring).

    ``token_char_spans``: ``(T, 2)`` (start, end) characters of each token, in text order (a tokenizer's
    ``offset_mapping``; empty spans are allowed and inherit the previous token's word);
    ``word_char_spans``: ``(W, 2)`` character spans of the words, in order, non-empty, non-overlapping.

    >>> # "the cat sat": tokens "the", " c", "at", " sat"
    >>> token_words([(0, 3), (3, 5), (5, 7), (7, 11)], [(0, 3), (4, 7), (8, 11)]).tolist()
    [0, 1, 1, 2]
    """
    tokens = _spans(token_char_spans, "token_char_spans")
    words = _spans(word_char_spans, "word_char_spans")
    if (words[:, 1] == words[:, 0]).any():
        raise ValueError(f"word_char_spans[{int(np.argmax(words[:, 1] == words[:, 0]))}] is empty")
    if (words[1:, 0] < words[:-1, 1]).any():
        raise ValueError("word_char_spans must be in text order and must not overlap")
    # overlap[t, w] = characters shared by token t and word w; (T, W)
    ends = np.minimum(tokens[:, None, 1], words[None, :, 1])
    starts = np.maximum(tokens[:, None, 0], words[None, :, 0])
    overlap = np.maximum(ends - starts, 0)
    word = overlap.argmax(axis=1).astype(np.int64)  # argmax keeps the earlier word on ties
    orphan = overlap.max(axis=1) == 0
    # Tokens that overlap no word take the previous token's word (word 0 at the start).
    owner_index = np.where(orphan, 0, np.arange(len(tokens)))
    np.maximum.accumulate(owner_index, out=owner_index)  # index of the last overlapping token so far
    word = np.where(orphan, word[owner_index], word)
    if (np.diff(word) < 0).any():
        raise ValueError("token_char_spans map to words out of order: token offsets must be in text order")
    return word


def _word_times(word_times) -> np.ndarray:  # -> (W, 2) float64 seconds
    times = _spans(np.asarray(word_times, dtype=np.float64), "word_times")
    if (np.diff(times[:, 0]) < 0).any():
        raise ValueError("word_times must be sorted by start time")
    return times


def _token_range_of_words(token_word: np.ndarray, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last token of each word, ``(W,), (W,)``; a word with no token of its own gets the token
    before it (token 0 if none)."""
    ids = np.arange(n_words)
    first = np.searchsorted(token_word, ids, side="left")
    last = np.searchsorted(token_word, ids, side="right") - 1
    tokenless = last < first
    fallback = np.maximum(last, 0)
    return np.where(tokenless, fallback, first), np.where(tokenless, fallback, last)


def _rows_to_words(times: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word of each row ``(A,)``, and masks ``(A,)``: before the first word; inside a word's speech."""
    started = np.searchsorted(times[:, 0], centres, side="right") - 1  # last word begun; -1 before any
    word = np.maximum(started, 0)
    # A word's speech ends at its end time or where the next word starts, whichever comes first.
    speech_end = np.minimum(times[:, 1], np.append(times[1:, 0], np.inf))  # (W,)
    before_speech = started < 0
    return word, before_speech, ~before_speech & (centres < speech_end[word])


def _spread_over_tokens(times, centres, word, in_speech, first, last) -> np.ndarray:
    """Token of each row if the rows inside a word were spread evenly over its tokens, ``(A,)``."""
    speech_rows = np.bincount(word[in_speech], minlength=len(times))  # (W,)
    first_speech_row = np.searchsorted(centres, times[:, 0], side="left")  # (W,) first centre inside
    rank = np.arange(len(centres)) - first_speech_row[word]  # (A,) position of the row within its word
    n_tokens = last - first + 1  # (W,)
    return first[word] + (rank * n_tokens[word]) // np.maximum(speech_rows[word], 1)


def reference_path(
    word_times,
    word_char_spans,
    token_char_spans,
    n_audio: int,
    frame_seconds: float,
    offset_seconds: float = 0.0,
) -> ReferencePath:
    """The reference token and word of every audio position (rules in the module docstring).

    ``word_times``: ``(W, 2)`` start and end of each word in seconds, on the same clock as ``offset_seconds``
    (the time of the start of audio position 0); ``frame_seconds``: seconds per audio position (Qwen2-Audio:
    0.04); ``word_char_spans``, ``token_char_spans``: as in ``token_words``; ``n_audio``: A.

    >>> # two words of one token each; 40 ms frames; speech 0.05-0.13 s and 0.13-0.20 s, silence after
    >>> ref = reference_path([(0.05, 0.13), (0.13, 0.20)], [(0, 2), (3, 5)], [(0, 2), (2, 5)], 6, 0.04)
    >>> ref.token_per_row.tolist()
    [0, 0, 0, 1, 1, 1]
    """
    times = _word_times(word_times)
    token_word = token_words(token_char_spans, word_char_spans)
    n_words = len(times)
    if len(np.asarray(word_char_spans)) != n_words:
        raise ValueError(
            f"word_times has {n_words} words but word_char_spans has {len(np.asarray(word_char_spans))}"
        )
    centres = row_times(n_audio, frame_seconds, offset_seconds)  # (A,)
    word, before_speech, in_speech = _rows_to_words(times, centres)
    first, last = _token_range_of_words(token_word, n_words)
    token = np.where(before_speech, first[word], last[word])  # silence: first token before, last token after
    spread = _spread_over_tokens(times, centres, word, in_speech, first, last)
    token = np.where(in_speech, spread, token)
    without_rows = np.setdiff1d(np.arange(n_words), word)
    return ReferencePath(
        token_per_row=token.astype(np.int64),
        word_per_row=word.astype(np.int64),
        token_word=token_word,
        n_words=n_words,
        words_without_rows=tuple(int(w) for w in without_rows),
    )
