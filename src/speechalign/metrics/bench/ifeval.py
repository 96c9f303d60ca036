"""Verifiable instruction-following rules as IFEval (Zhou et al. 2023) checks them, written for this project
after Google's reference implementation (instruction_following_eval), so scores compare with published ones.

A rule is a mapping ``{"id": <IFEval instruction id>, **kwargs}`` with IFEval's instruction ids and keyword
names, so VoiceBench's ``ifeval`` subset (``instruction_id_list`` + ``kwargs``) and the embedded suite share
one implementation. Three modes (``MODES``):

- ``strict``: the reference's strict check of the response as given; keyword checks match substrings
  (``keywords:forbidden_words`` whole words), a postscript marker may stand anywhere in a line (so a bold
  ``**P.S.**`` counts), ``language:response_language`` and the English case checks use langdetect (seeded, so
  reruns agree; an undetectable text passes, as in the reference);
- ``loose``: the reference's loose check: followed when any of eight variants follows it (the response,
  without its first line, its last line or both, each also with every ``*`` removed);
- ``stricter``: strict, but keywords must be whole words and a postscript must open a line (the reading this
  project used first; a named extra, never the headline).

Prompt level: a prompt counts when it follows all its instructions; instruction level: followed instructions
over all instructions (summed over prompts, not a mean of per-prompt shares). ``ifeval_counts`` gives one
response's summable counts, ``ifeval_scores`` finishes summed counts. An empty response follows nothing.
What still differs from the reference (no nltk: words are ``\\w+`` runs and sentences split at ``.!?``) is
listed in docs/deviations.md.

    >>> follows({"id": "punctuation:no_comma"}, "Yes it is.")
    True
    >>> rule = {"id": "keywords:existence", "keywords": ["sun"]}
    >>> follows(rule, "Sunny days."), follows(rule, "Sunny days.", mode="stricter")
    (True, False)
    >>> counts = ifeval_counts("**P.S.** bye", [rule, {"id": "detectable_content:postscript",
    ...                                                   "postscript_marker": "P.S."}])
    >>> ifeval_scores(counts)["instruction_strict"], ifeval_scores(counts)["prompt_strict"]
    (0.5, 0.0)
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RELATIONS = ("less than", "at least")
MODES = ("strict", "loose", "stricter")
_WORD = re.compile(r"\w+")

Check = Callable[[str, Mapping[str, Any]], bool]


def _compare(count: int, relation: str, n: int) -> bool:
    return count < n if relation == "less than" else count >= n


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if _WORD.search(s)]


def _nfkc(value: Any) -> str:
    """A rule's text normalised as answers are (``scorers.answer_text``), so the two compare."""
    return unicodedata.normalize("NFKC", str(value))


def _count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text, flags=re.IGNORECASE))


@functools.cache
def _langdetect():
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect samples at random: seeded, a rerun scores the same
    return detect, LangDetectException


def _language(text: str) -> str | None:
    """langdetect's language code of ``text``, or None when it cannot tell (the reference then passes)."""
    detect, failure = _langdetect()
    try:
        return detect(text)
    except failure:
        return None


def _in_language(text: str, code: str) -> bool:
    return _language(text) in (code, None)


def _paragraphs_by_divider(text: str, rule: Mapping[str, Any]) -> bool:
    # reference: paragraphs split at ***; an empty first or last one is not counted, an empty middle one fails
    parts = re.split(r"\s?\*\*\*\s?", text)
    count = len(parts)
    for index, part in enumerate(parts):
        if not part.strip():
            if index not in (0, len(parts) - 1):
                return False
            count -= 1
    return count == rule["num_paragraphs"]


def _nth_paragraph_first_word(text: str, rule: Mapping[str, Any]) -> bool:
    paragraphs = re.split(r"\n\n", text)
    count = sum(1 for p in paragraphs if p.strip())
    nth = rule["nth_paragraph"]
    if not 1 <= nth <= count:
        return False
    paragraph = paragraphs[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for letter in word:  # the reference reads letters up to the first punctuation mark
        if letter in ".,?!'\"":
            break
        first += letter.lower()
    return count == rule["num_paragraphs"] and first == str(rule["first_word"]).lower()


def _postscript(text: str, rule: Mapping[str, Any]) -> bool:
    marker = str(rule["postscript_marker"]).strip()  # stripped, as the reference does
    pattern = {"P.P.S": r"\s*p\.\s?p\.\s?s.*$", "P.S.": r"\s*p\.\s?s\..*$"}.get(marker)
    pattern = pattern or r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))


def _highlights(text: str) -> int:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [
        h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h.removeprefix("**").removesuffix("**").strip()
    ]
    return len(single) + len(double)


def _json_format(text: str, rule: Mapping[str, Any]) -> bool:
    value = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        value = value.removeprefix(fence)
    try:
        json.loads(value.removesuffix("```").strip())
    except ValueError:
        return False
    return True


def _title(text: str, rule: Mapping[str, Any]) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))


def _two_responses(text: str, rule: Mapping[str, Any]) -> bool:
    parts = text.split("******")
    valid = []
    for index, part in enumerate(parts):
        if part.strip():
            valid.append(part)
        elif index not in (0, len(parts) - 1):
            return False
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


CHECKS: dict[str, tuple[tuple[str, ...], Check]] = {
    # id: (required kwargs, check(response, rule)), as the reference checks it (strict)
    "keywords:existence": (
        ("keywords",),
        lambda t, r: all(_count(re.escape(k), t) for k in r["keywords"]),
    ),
    "keywords:forbidden_words": (
        ("forbidden_words",),
        lambda t, r: not any(_count(rf"\b{re.escape(w)}\b", t) for w in r["forbidden_words"]),
    ),
    "keywords:frequency": (
        ("keyword", "frequency", "relation"),
        lambda t, r: _compare(_count(re.escape(str(r["keyword"]).strip()), t), r["relation"], r["frequency"]),
    ),
    "keywords:letter_frequency": (
        ("letter", "let_frequency", "let_relation"),
        lambda t, r: _compare(
            t.lower().count(str(r["letter"]).lower()), r["let_relation"], r["let_frequency"]
        ),
    ),
    "language:response_language": (("language",), lambda t, r: _in_language(t, str(r["language"]))),
    "length_constraints:number_words": (
        ("num_words", "relation"),
        lambda t, r: _compare(len(_words(t)), r["relation"], r["num_words"]),
    ),
    "length_constraints:number_sentences": (
        ("num_sentences", "relation"),
        lambda t, r: _compare(len(_sentences(t)), r["relation"], r["num_sentences"]),
    ),
    "length_constraints:number_paragraphs": (("num_paragraphs",), _paragraphs_by_divider),
    "length_constraints:nth_paragraph_first_word": (
        ("num_paragraphs", "nth_paragraph", "first_word"),
        _nth_paragraph_first_word,
    ),
    "detectable_content:number_placeholders": (
        ("num_placeholders",),
        lambda t, r: len(re.findall(r"\[.*?\]", t)) >= r["num_placeholders"],
    ),
    "detectable_content:postscript": (("postscript_marker",), _postscript),
    "detectable_format:number_bullet_lists": (
        ("num_bullets",),
        lambda t, r: (
            len(re.findall(r"^\s*\*[^\*].*$", t, flags=re.MULTILINE))
            + len(re.findall(r"^\s*-.*$", t, flags=re.MULTILINE))
            == r["num_bullets"]
        ),
    ),
    "detectable_format:constrained_response": (
        (),
        lambda t, r: any(
            o in t.strip() for o in ("My answer is yes.", "My answer is no.", "My answer is maybe.")
        ),
    ),
    "detectable_format:number_highlighted_sections": (
        ("num_highlights",),
        lambda t, r: _highlights(t) >= r["num_highlights"],
    ),
    "detectable_format:multiple_sections": (
        ("section_spliter", "num_sections"),
        lambda t, r: (
            len(re.split(rf"\s?{re.escape(r['section_spliter'])}\s?\d+\s?", t)) - 1 >= r["num_sections"]
        ),
    ),
    "detectable_format:json_format": ((), _json_format),
    "detectable_format:title": ((), _title),
    "combination:two_responses": ((), _two_responses),
    "combination:repeat_prompt": (
        ("prompt_to_repeat",),
        lambda t, r: t.strip().lower().startswith(_nfkc(r["prompt_to_repeat"]).strip().lower()),
    ),
    "startend:end_checker": (
        ("end_phrase",),
        lambda t, r: t.strip().strip('"').lower().endswith(_nfkc(r["end_phrase"]).strip().lower()),
    ),
    "startend:quotation": ((), lambda t, r: len(t.strip()) > 1 and t.strip()[0] == t.strip()[-1] == '"'),
    "change_case:capital_word_frequency": (
        ("capital_frequency", "capital_relation"),
        lambda t, r: _compare(
            sum(w.isupper() for w in _words(t)), r["capital_relation"], r["capital_frequency"]
        ),
    ),
    "change_case:english_capital": ((), lambda t, r: t.isupper() and _in_language(t, "en")),
    "change_case:english_lowercase": ((), lambda t, r: t.islower() and _in_language(t, "en")),
    "punctuation:no_comma": ((), lambda t, r: "," not in t),
}
# The ``stricter`` mode's readings: whole-word keywords, a postscript at the start of a line.
STRICTER: dict[str, Check] = {
    "keywords:existence": lambda t, r: all(_count(rf"\b{re.escape(k)}\b", t) for k in r["keywords"]),
    "keywords:frequency": lambda t, r: _compare(
        _count(rf"\b{re.escape(r['keyword'])}\b", t), r["relation"], r["frequency"]
    ),
    "detectable_content:postscript": lambda t, r: (
        re.search(rf"^\s*{re.escape(str(r['postscript_marker']))}", t, re.IGNORECASE | re.MULTILINE)
        is not None
    ),
}


def rule_problem(rule: Mapping[str, Any]) -> str | None:
    """Why ``rule`` cannot be checked (unknown id, missing or bad kwargs), or None."""
    rule_id = rule.get("id")
    if rule_id not in CHECKS:
        return f"unknown ifeval rule id {rule_id!r}"
    required, _ = CHECKS[rule_id]
    missing = [k for k in required if rule.get(k) is None]
    if missing:
        return f"ifeval rule {rule_id} lacks {missing}"
    for key in ("relation", "let_relation", "capital_relation"):
        if key in required and rule[key] not in RELATIONS:
            return f"ifeval rule {rule_id}: {key} must be one of {RELATIONS}, got {rule[key]!r}"
    return None


def loose_variants(response: str) -> list[str]:
    """The reference's loose variants: the response without its first, last or both lines, each with and
    without ``*``, and the response itself."""
    lines = response.split("\n")
    cut = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return [cut[0], cut[0].replace("*", ""), *cut[1:], *(c.replace("*", "") for c in cut[1:])]


def follows(rule: Mapping[str, Any], response: str, mode: str = "strict") -> bool:
    """Whether ``response`` follows ``rule`` in ``mode`` (``MODES``). An empty response follows nothing."""
    problem = rule_problem(rule)
    if problem:
        raise ValueError(problem)
    if mode not in MODES:
        raise ValueError(f"ifeval mode must be one of {MODES}; got {mode!r}")
    check = STRICTER.get(rule["id"], CHECKS[rule["id"]][1]) if mode == "stricter" else CHECKS[rule["id"]][1]
    candidates = loose_variants(response) if mode == "loose" else [response]
    return any(bool(check(c, rule)) for c in candidates if c.strip())


@dataclass(frozen=True)
class IfevalCounts:
    """Summable state: prompts and instructions, and per mode how many of each were followed."""

    prompts: int = 0
    instructions: int = 0
    prompts_followed: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(MODES, 0))
    instructions_followed: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(MODES, 0))

    def __add__(self, other: IfevalCounts) -> IfevalCounts:
        return IfevalCounts(
            self.prompts + other.prompts,
            self.instructions + other.instructions,
            {m: self.prompts_followed[m] + other.prompts_followed[m] for m in MODES},
            {m: self.instructions_followed[m] + other.instructions_followed[m] for m in MODES},
        )


def ifeval_counts(response: str, rules: Sequence[Mapping[str, Any]]) -> IfevalCounts:
    """One prompt's counts: its instructions, and which it follows in each mode."""
    followed = {m: [follows(rule, response, m) for rule in rules] for m in MODES}
    return IfevalCounts(
        1, len(rules), {m: int(all(f)) for m, f in followed.items()}, {m: sum(f) for m, f in followed.items()}
    )


def ifeval_scores(counts: IfevalCounts) -> dict[str, float]:
    """``prompt_<mode>`` (prompts that follow all their instructions / prompts) and ``instruction_<mode>``
    (followed instructions / instructions), the reference's four numbers (strict, loose) and the extra."""
    scores = {}
    for m in MODES:
        scores[f"prompt_{m}"] = (
            counts.prompts_followed[m] / counts.prompts if counts.prompts else float("nan")
        )
        total = counts.instructions
        scores[f"instruction_{m}"] = counts.instructions_followed[m] / total if total else float("nan")
    return scores


def ifeval(pairs: Iterable[tuple[str, Sequence[Mapping[str, Any]]]]) -> dict[str, float]:
    """The scores of (response, rules) pairs, counts summed over prompts (as the reference evaluates)."""
    return ifeval_scores(sum((ifeval_counts(r, rules) for r, rules in pairs), IfevalCounts()))
