"""Word normalisation for matching recognised words to transcript words: lower case, outer punctuation
removed, hyphenated words split, and numbers written in digits spelled out (``42`` -> ``forty two``,
``1990`` -> ``nineteen ninety``, ``3rd`` -> ``third``). Both sides go through the same function, so the
transcript's spelled-out numbers meet the recogniser's digits.

Each token keeps the index of the word it came from and its share of that word's span (a word that
becomes k tokens gives each token 1/k of its time), so times can be carried back to words.

    >>> [t.text for t in normalise_words(["Forty-two,", "42", "1990s"])]
    ['forty', 'two', 'forty', 'two', 'nineteen', 'nineties']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from speechalign.text import number_words

NORMALISATION = "lower+punctuation+hyphens+numbers-spelled"  # recorded with every WER

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_SPLIT = re.compile(r"[\s\-‐‑–—/]+")
_NUMBER = re.compile(r"^(?P<cur>\$)?(?P<num>\d[\d,]*(?:\.\d+)?)(?P<suf>st|nd|rd|th|s|%)?$")
_KEEP = re.compile(r"[^a-z0-9']")
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))


@dataclass(frozen=True)
class Token:
    text: str
    word: int  # index of the source word
    share: tuple[float, float]  # (from, to) fraction of the source word's span


def spell_integer(n: int) -> str:
    """Cardinal words, no "and", tens unhyphenated: 1_000_042 -> ``one million forty two``."""
    if n < 0:
        return "minus " + spell_integer(-n)
    for scale, name in _SCALES:
        if n >= scale:
            rest = n % scale
            return f"{spell_integer(n // scale)} {name}" + (f" {spell_integer(rest)}" if rest else "")
    return number_words(n).replace("-", " ")


def spell_year(n: int) -> str:
    """How a four-digit year is read: 1990 -> nineteen ninety, 1905 -> nineteen oh five, 2007 -> two
    thousand seven. Used for 1100-1999 and 2000-2099, the numbers Whisper writes for spoken years."""
    if 2000 <= n <= 2009:
        return spell_integer(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{spell_integer(high)} hundred"
    return f"{spell_integer(high)} " + (f"oh {spell_integer(low)}" if low < 10 else spell_integer(low))


def ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def plural(words: str) -> str:
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def spell_number(token: str) -> str | None:
    """Words for a number written in digits (``$5``, ``3.5``, ``1,200``, ``21st``, ``1990s``, ``50%``),
    or None when ``token`` is not one."""
    m = _NUMBER.match(token)
    if m is None:
        return None
    integer, _, decimals = m["num"].replace(",", "").partition(".")
    value = int(integer)
    is_year = "," not in m["num"] and not decimals and len(integer) == 4 and 1100 <= value <= 2099
    words = spell_year(value) if is_year and m["suf"] in (None, "s") else spell_integer(value)
    if decimals:
        words += " point " + " ".join(spell_integer(int(d)) for d in decimals)
    suffix = m["suf"]
    if suffix in ("st", "nd", "rd", "th"):
        words = ordinal(words)
    elif suffix == "s":
        words = plural(words)
    elif suffix == "%":
        words += " percent"
    if m["cur"]:
        words += " dollars"
    return words


def normalise_word(word: str) -> list[str]:
    """The tokens of one word (possibly none, for pure punctuation)."""
    tokens: list[str] = []
    for part in _SPLIT.split(word.translate(_APOSTROPHES).lower()):
        part = part.strip("\"'.,;:!?()[]{}<>«»“”*_~")
        spelled = spell_number(part)
        if spelled is not None:
            tokens += spelled.split()
            continue
        cleaned = _KEEP.sub("", part).strip("'")
        if cleaned:
            tokens.append(cleaned)
    return tokens


def normalise_words(words: Sequence[str]) -> list[Token]:
    """Tokens of every word in order, each with its source word and its share of that word's span."""
    out: list[Token] = []
    for index, word in enumerate(words):
        parts = normalise_word(word)
        for k, text in enumerate(parts):
            out.append(Token(text, index, (k / len(parts), (k + 1) / len(parts))))
    return out
