"""Carry recognised word times over to the transcript's words.

Both word lists are normalised (:mod:`speechalign.reference.normalise`), aligned by edit distance
(Levenshtein, unit costs), and every transcript word takes the time span of the recognised tokens
aligned to it (matches and substitutions: a misrecognised word was still heard there). Transcript words
left without a time (deleted by the recogniser) get times interpolated in the gap between their timed
neighbours, shared in proportion to their length in characters, and the flag ``interpolated``.

Word error rate counts the edit operations on normalised tokens: (S + D + I) / N with N the transcript's
token count. A corpus WER sums the counts of its utterances (:class:`ErrorCounts` adds up); it never
averages per-utterance rates.

    >>> from speechalign.data.manifest import Word
    >>> m = match_words(["Mary", "is", "forty-two."], [Word("Mary", 0.0, 0.3), Word("42", 0.5, 1.1)], 1.5)
    >>> [(w.text, w.start, w.end, w.flag) for w in m.words]
    [('Mary', 0.0, 0.3, 'matched'), ('is', 0.3, 0.5, 'interpolated'), ('forty-two.', 0.5, 1.1, 'matched')]
    >>> m.counts.deletions, m.counts.reference_words, m.counts.wer
    (1, 4, 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from speechalign.data.manifest import Word
from speechalign.reference.normalise import NORMALISATION, Token, normalise_words

MATCHED, SUBSTITUTED, INTERPOLATED, EXACT = "matched", "substituted", "interpolated", "exact"


@dataclass(frozen=True)
class ErrorCounts:
    """Summable WER state. Lower WER is better."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_words + other.reference_words,
        )

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """(S + D + I) / N; with no reference words 0 when nothing was inserted, else infinity."""
        if self.reference_words == 0:
            return 0.0 if self.errors == 0 else math.inf
        return self.errors / self.reference_words


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float
    flag: str  # matched | substituted | interpolated | exact (oracle)


@dataclass(frozen=True)
class MatchResult:
    words: tuple[TimedWord, ...]  # one per transcript word, in order
    counts: ErrorCounts
    normalisation: str = field(default=NORMALISATION)

    @property
    def interpolated(self) -> int:
        return sum(w.flag == INTERPOLATED for w in self.words)


def edit_operations(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str, int | None, int | None]]:
    """A minimum-cost alignment as (op, ref index, hyp index), op in match/sub/del/ins.

    Ties prefer match or substitution, then deletion, then insertion, so the result is deterministic."""
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1), dtype=np.int64)  # (N+1, M+1) edit distances of prefixes
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            diagonal = cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i, j] = min(diagonal, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    ops: list[tuple[str, int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("match" if ref[i - 1] == hyp[j - 1] else "sub", i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            ops.append(("del", i - 1, None))
            i -= 1
        else:
            ops.append(("ins", None, j - 1))
            j -= 1
    return ops[::-1]


def token_span(token: Token, word: Word) -> tuple[float, float]:
    """The part of the recognised word's time that this token stands for."""
    length = word.end - word.start
    return word.start + token.share[0] * length, word.start + token.share[1] * length


def carried_spans(
    transcript: Sequence[str], recognised: Sequence[Word]
) -> tuple[list[tuple[float, float, str] | None], ErrorCounts]:
    """Per transcript word: (start, end, flag) from the aligned recognised tokens, or None; and counts."""
    ref_tokens = normalise_words(transcript)
    hyp_tokens = normalise_words([w.text for w in recognised])
    ops = edit_operations([t.text for t in ref_tokens], [t.text for t in hyp_tokens])
    spans: dict[int, list[tuple[float, float, str]]] = {}
    for op, r, h in ops:
        if op in ("match", "sub"):
            token = hyp_tokens[h]
            start, end = token_span(token, recognised[token.word])
            spans.setdefault(ref_tokens[r].word, []).append((start, end, op))
    counts = ErrorCounts(
        substitutions=sum(op == "sub" for op, _, _ in ops),
        deletions=sum(op == "del" for op, _, _ in ops),
        insertions=sum(op == "ins" for op, _, _ in ops),
        reference_words=len(ref_tokens),
    )
    carried: list[tuple[float, float, str] | None] = []
    for index in range(len(transcript)):
        parts = spans.get(index)
        if not parts:
            carried.append(None)
            continue
        flag = MATCHED if all(op == "match" for _, _, op in parts) else SUBSTITUTED
        carried.append((min(p[0] for p in parts), max(p[1] for p in parts), flag))
    return carried, counts


def interpolate(
    transcript: Sequence[str], carried: Sequence[tuple[float, float, str] | None], duration: float
) -> tuple[TimedWord, ...]:
    """Fill each run of untimed words into the gap between its timed neighbours (the audio's ends at the
    edges), in proportion to the words' character lengths."""
    words: list[TimedWord | None] = [
        None if c is None else TimedWord(transcript[i], c[0], c[1], c[2]) for i, c in enumerate(carried)
    ]
    i = 0
    while i < len(words):
        if words[i] is not None:
            i += 1
            continue
        j = i
        while j < len(words) and words[j] is None:
            j += 1
        left = words[i - 1].end if i > 0 else 0.0
        right = words[j].start if j < len(words) else duration
        right = max(right, left)  # neighbours that overlap leave a zero-length gap
        weights = np.array([max(len(transcript[k]), 1) for k in range(i, j)], dtype=np.float64)
        bounds = left + (right - left) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        for k in range(i, j):
            words[k] = TimedWord(transcript[k], float(bounds[k - i]), float(bounds[k - i + 1]), INTERPOLATED)
        i = j
    return tuple(words)  # type: ignore[arg-type]


def clip_to_audio(words: Sequence[Word], duration: float) -> list[Word]:
    """Recognisers may place a last word past the audio's end; keep every time within [0, duration]."""
    clip = lambda t: min(max(float(t), 0.0), duration)  # noqa: E731
    return [Word(w.text, clip(w.start), max(clip(w.start), clip(w.end))) for w in words]


def match_words(transcript: Sequence[str], recognised: Sequence[Word], duration: float) -> MatchResult:
    """Times for every transcript word from the recognised words (see the module docstring)."""
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"audio duration must be a finite non-negative number of seconds, got {duration}")
    carried, counts = carried_spans(transcript, clip_to_audio(recognised, duration))
    return MatchResult(interpolate(transcript, carried, duration), counts)
