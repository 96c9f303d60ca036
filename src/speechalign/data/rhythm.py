"""Speech whose rhythm a straight diagonal cannot guess: an item spoken phrase by phrase.

Synthesised speech at one steady rate makes the uniform diagonal path almost the reference (0.93 tokens on
the quick SQA passages), so "better than uniform" is a weak bar for ALAS. Here an item is cut into phrases of
a few words (always at a sentence end); each phrase is spoken at its own rate (a tempo trend over the item,
a rate per sentence and one per phrase: :func:`plan_rhythm`) and followed by a pause, longer between
sentences. Word times stay exact: each phrase is synthesised on its own and its word times are shifted by
where it starts in the item.

The plan is data, drawn in the main process from an RNG seeded by the corpus seed and the item id (so adding
rhythm changes no other random choice of a planner), and recorded in the manifest as ``extra["rhythm"]``:
one ``{"words": n, "rate": factor, "pause": seconds}`` per phrase, in order.

    >>> import random
    >>> cfg = {"corpora": ["sqa"], "phrase_words": [2, 3], "tempo_trend": 3.0, "rate_factor": 1.5,
    ...        "phrase_pause_s": [0.0, 0.4], "sentence_pause_s": [0.2, 0.8]}
    >>> plan = plan_rhythm("One two three. Four five six seven.", cfg, random.Random(0), wpm=170)
    >>> [p["words"] for p in plan], sum(p["words"] for p in plan)
    ([3, 2, 2], 7)
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from speechalign.data.manifest import Word
from speechalign.errors import UserFacingError

__all__ = ["phrase_texts", "plan_rhythm", "rhythm_extra", "scaled_rate", "speak_with_rhythm"]

_SENTENCE_END = (".", "!", "?")
# Words per minute: espeak-ng takes 80-450, but at 450 its word times overshoot the audio (by ~30 ms).
_RATE_LIMITS = (80, 400)
# speak_phrase(text, rate_factor) -> (audio (N,) float32, sample rate, word times from 0)
PhraseSpeaker = Callable[[str, float], tuple[np.ndarray, int, Sequence[Word]]]


def _spoken_groups(tokens: Sequence[str]) -> list[list[str]]:
    """Whitespace tokens grouped so that each group starts with a spoken one (a letter or digit): a token
    without one ("--") joins the group before it, since espeak-ng speaks nothing at a phrase's start."""
    groups: list[list[str]] = []
    for token in tokens:
        if groups and not any(c.isalnum() for c in token):
            groups[-1].append(token)
        elif groups and not any(c.isalnum() for t in groups[-1] for c in t):
            groups[-1].append(token)  # leading unspoken tokens of the item join its first spoken word
        else:
            groups.append([token])
    return groups


def _ends_sentence(group: Sequence[str]) -> bool:
    return any(t.rstrip("\"')”’").endswith(_SENTENCE_END) for t in group)


def _phrase_lengths(tokens: Sequence[str], low: int, high: int, rng: random.Random) -> list[tuple[int, bool]]:
    """(tokens, ends a sentence) per phrase: ``low`` to ``high`` spoken words, cut at every sentence end."""
    groups = _spoken_groups(tokens)
    out, start = [], 0
    ends = [i for i, g in enumerate(groups) if _ends_sentence(g)] + [len(groups) - 1]
    for end in sorted(set(ends)):
        while start <= end:
            n = min(rng.randint(low, high), end + 1 - start)
            out.append((sum(len(g) for g in groups[start : start + n]), start + n > end))
            start += n
    return out


def _log_uniform(rng: random.Random, factor: float) -> float:
    return math.exp(rng.uniform(-math.log(factor), math.log(factor)))


def _keep_duration(words: list[int], rates: list[float], pauses: list[float], wpm: float) -> list[float]:
    """Rate factors scaled by one constant so that speech plus pauses last about as long as the steady rate
    would (a planner sizes items by duration); pauses take at most half of that time."""
    steady = sum(words) * 60 / wpm  # seconds at the style's own rate
    spoken = max(steady - sum(pauses), steady / 2)
    scale = sum(n * 60 / (wpm * r) for n, r in zip(words, rates, strict=True)) / spoken
    return [r * scale for r in rates]


def plan_rhythm(text: str, cfg: Mapping[str, Any], rng: random.Random, wpm: float) -> list[dict[str, Any]]:
    """Phrases covering the whitespace tokens of ``text`` in order, each ``{"words", "rate", "pause"}``.

    ``cfg`` (params ``data.rhythm``): ``phrase_words`` [min, max] words per phrase. A phrase's rate factor
    is the product of a tempo trend over the item (the speaker speeds up or, by a coin flip, slows down: the
    factor goes log-linearly from ``1/sqrt(t)`` to ``sqrt(t)``, ``t = tempo_trend``), a sentence factor
    drawn log-uniformly in ``[1/f, f]`` (``f = rate_factor``: a rate change between sentences) and a phrase
    factor in ``[1/sqrt f, sqrt f]`` (a change within). ``phrase_pause_s`` and ``sentence_pause_s``: [min,
    max] seconds of silence after a phrase ending inside a sentence or at its end (the last gets none). The
    factors are scaled together so that the item lasts about as long as at the steady ``wpm`` (words per
    minute): a planner's sizing and a prosody style's mean rate are kept."""
    tokens = text.split()
    if not tokens:
        raise UserFacingError("cannot plan the rhythm of an empty text")
    trend = math.log(cfg["tempo_trend"]) * rng.choice((-1, 1))
    f = cfg["rate_factor"]
    words, rates, pauses = [], [], []
    sentence_rate, done = _log_uniform(rng, f), 0
    for n, sentence_end in _phrase_lengths(tokens, *cfg["phrase_words"], rng):
        position = (done + n / 2) / len(tokens) - 0.5  # the phrase's centre, -0.5 .. 0.5 of the item
        rates.append(math.exp(trend * position) * sentence_rate * _log_uniform(rng, math.sqrt(f)))
        pauses.append(rng.uniform(*(cfg["sentence_pause_s"] if sentence_end else cfg["phrase_pause_s"])))
        words.append(n)
        done += n
        if sentence_end:
            sentence_rate = _log_uniform(rng, f)
    pauses[-1] = 0.0
    rates = _keep_duration(words, rates, pauses, wpm)
    return [
        {"words": n, "rate": round(r, 3), "pause": round(p, 3)}
        for n, r, p in zip(words, rates, pauses, strict=True)
    ]


def rhythm_extra(
    params: Mapping[str, Any], corpus: str, seed: int, item_id: str, text: str, wpm: float
) -> dict:
    """``{"rhythm": plan}`` for an item of a corpus that params ``data.rhythm.corpora`` names, else ``{}``;
    ``wpm``: the item's steady rate (its prosody style's).

    The RNG is seeded by (seed, corpus, item): the planners' own random draws are left as they were."""
    cfg = params["rhythm"]
    if corpus not in cfg["corpora"]:
        return {}
    return {"rhythm": plan_rhythm(text, cfg, random.Random(f"rhythm-{corpus}-{seed}-{item_id}"), wpm)}


def phrase_texts(text: str, rhythm: Sequence[Mapping[str, Any]]) -> list[str]:
    """The text of each phrase: consecutive whitespace tokens of ``text``, ``rhythm[k]["words"]`` each."""
    tokens = text.split()
    if sum(p["words"] for p in rhythm) != len(tokens):
        raise UserFacingError(
            f"the rhythm plan covers {sum(p['words'] for p in rhythm)} words; the text has {len(tokens)}"
        )
    out, start = [], 0
    for phrase in rhythm:
        out.append(" ".join(tokens[start : start + phrase["words"]]))
        start += phrase["words"]
    return out


def scaled_rate(rate: int, factor: float) -> int:
    """A style's words per minute times ``factor``, kept within what espeak-ng takes."""
    return int(min(max(round(rate * factor), _RATE_LIMITS[0]), _RATE_LIMITS[1]))


def speak_with_rhythm(
    text: str, rhythm: Sequence[Mapping[str, Any]], speak_phrase: PhraseSpeaker
) -> tuple[np.ndarray, int, tuple[Word, ...]]:
    """The item spoken phrase by phrase with the planned rates and pauses: audio ``(N,)`` float32, its sample
    rate, and every word's time in the item (each phrase's own times shifted by its start)."""
    chunks: list[np.ndarray] = []
    words: list[Word] = []
    rate, position = None, 0  # samples so far
    for phrase_text, phrase in zip(phrase_texts(text, rhythm), rhythm, strict=True):
        audio, phrase_rate, phrase_words = speak_phrase(phrase_text, phrase["rate"])
        if rate is not None and phrase_rate != rate:
            raise UserFacingError(f"phrases of one item came at {rate} and {phrase_rate} Hz")
        rate = phrase_rate
        offset = position / rate
        words += [Word(w.text, w.start + offset, w.end + offset) for w in phrase_words]
        silence = np.zeros(round(phrase["pause"] * rate), dtype=np.float32)
        chunks += [np.asarray(audio, dtype=np.float32), silence]
        position += len(audio) + len(silence)
    return np.concatenate(chunks), rate, tuple(words)
