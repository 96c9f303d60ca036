"""Verifiable instruction-following rules in the IFEval manner (Zhou et al. 2023), written for this project.

A rule is a mapping ``{"id": <IFEval instruction id>, **kwargs}`` with IFEval's instruction ids and keyword
names, so VoiceBench's ``ifeval`` subset (which stores ``instruction_id_list`` + ``kwargs``) and the embedded
suite share one implementation. Checks are *strict* (IFEval's strict mode: the response as given) and an
empty response follows no rule. Relations are IFEval's: ``"less than"`` (count < N) and ``"at least"``
(count >= N).

Where this differs from the published checker (documented in the README): words are ``\\w+`` runs (IFEval
uses nltk's word tokenizer on the same pattern), sentences are split at ``.``/``!``/``?`` followed by space or
the end (IFEval uses its own splitter), and ``change_case`` rules do not run a language detector;
``language:response_language`` needs a language detector and is not supported: items using it are rejected
with that reason when loaded.

    >>> follows({"id": "punctuation:no_comma"}, "Yes it is.")
    True
    >>> rule = {"id": "length_constraints:number_words", "relation": "less than", "num_words": 3}
    >>> follows(rule, "one two three")
    False
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

RELATIONS = ("less than", "at least")
_WORD = re.compile(r"\w+")


def _compare(count: int, relation: str, n: int) -> bool:
    return count < n if relation == "less than" else count >= n


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if _WORD.search(s)]


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE) is not None


def _strip_fences(text: str) -> str:
    """JSON may come in a markdown code fence (IFEval strips ``` and ```json too)."""
    text = text.strip()
    text = re.sub(r"^```(?:json|Json|JSON)?\s*", "", text)
    return re.sub(r"\s*```$", "", text).strip()


def _json_format(text: str, rule: Mapping[str, Any]) -> bool:
    try:
        json.loads(_strip_fences(text))
    except ValueError:
        return False
    return True


def _bullets(text: str) -> int:
    return len(re.findall(r"^\s*[*-]\s+\S", text, flags=re.MULTILINE))


def _highlights(text: str) -> int:
    # *text* or **text** with something inside; IFEval counts both forms
    return len(re.findall(r"\*\*[^\n*]+\*\*", text)) + len(re.findall(r"(?<!\*)\*[^\n*]+\*(?!\*)", text))


def _sections(text: str, splitter: str) -> int:
    return len(re.split(rf"\s?{re.escape(splitter)}\s?\d+\s?", text)) - 1


def _paragraphs_by_divider(text: str) -> list[str]:
    return [p for p in re.split(r"\s?\*\*\*\s?", text)]


def _nth_paragraph_first_word(text: str, rule: Mapping[str, Any]) -> bool:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) != rule["num_paragraphs"]:
        return False
    nth = rule["nth_paragraph"]
    if not 1 <= nth <= len(paragraphs):
        return False
    words = _words(paragraphs[nth - 1])
    return bool(words) and words[0].lower() == str(rule["first_word"]).lower()


def _two_responses(text: str, rule: Mapping[str, Any]) -> bool:
    parts = [p.strip() for p in text.split("******")]
    return len(parts) == 2 and all(parts) and parts[0] != parts[1]


CHECKS: dict[str, tuple[tuple[str, ...], Callable[[str, Mapping[str, Any]], bool]]] = {
    # id: (required kwargs, check(response, rule))
    "keywords:existence": (("keywords",), lambda t, r: all(_has_word(t, k) for k in r["keywords"])),
    "keywords:forbidden_words": (
        ("forbidden_words",),
        lambda t, r: not any(_has_word(t, w) for w in r["forbidden_words"]),
    ),
    "keywords:frequency": (
        ("keyword", "frequency", "relation"),
        lambda t, r: _compare(
            len(re.findall(rf"\b{re.escape(r['keyword'])}\b", t, flags=re.IGNORECASE)),
            r["relation"],
            r["frequency"],
        ),
    ),
    "keywords:letter_frequency": (
        ("letter", "let_frequency", "let_relation"),
        lambda t, r: _compare(
            t.lower().count(str(r["letter"]).lower()), r["let_relation"], r["let_frequency"]
        ),
    ),
    "length_constraints:number_words": (
        ("num_words", "relation"),
        lambda t, r: _compare(len(_words(t)), r["relation"], r["num_words"]),
    ),
    "length_constraints:number_sentences": (
        ("num_sentences", "relation"),
        lambda t, r: _compare(len(_sentences(t)), r["relation"], r["num_sentences"]),
    ),
    "length_constraints:number_paragraphs": (
        ("num_paragraphs",),
        lambda t, r: (
            all(p.strip() for p in _paragraphs_by_divider(t))
            and len(_paragraphs_by_divider(t)) == r["num_paragraphs"]
        ),
    ),
    "length_constraints:nth_paragraph_first_word": (
        ("num_paragraphs", "nth_paragraph", "first_word"),
        _nth_paragraph_first_word,
    ),
    "detectable_content:number_placeholders": (
        ("num_placeholders",),
        lambda t, r: len(re.findall(r"\[[^\[\]]+\]", t)) >= r["num_placeholders"],
    ),
    "detectable_content:postscript": (
        ("postscript_marker",),
        lambda t, r: (
            re.search(rf"^\s*{re.escape(r['postscript_marker'])}", t, re.IGNORECASE | re.MULTILINE)
            is not None
        ),
    ),
    "detectable_format:number_bullet_lists": (("num_bullets",), lambda t, r: _bullets(t) == r["num_bullets"]),
    "detectable_format:constrained_response": (
        (),
        lambda t, r: any(o in t for o in ("My answer is yes.", "My answer is no.", "My answer is maybe.")),
    ),
    "detectable_format:number_highlighted_sections": (
        ("num_highlights",),
        lambda t, r: _highlights(t) >= r["num_highlights"],
    ),
    "detectable_format:multiple_sections": (
        ("section_spliter", "num_sections"),
        lambda t, r: _sections(t, r["section_spliter"]) >= r["num_sections"],
    ),
    "detectable_format:json_format": ((), _json_format),
    "detectable_format:title": ((), lambda t, r: re.search(r"<<[^\n]*\S[^\n]*>>", t) is not None),
    "combination:two_responses": ((), _two_responses),
    "combination:repeat_prompt": (
        ("prompt_to_repeat",),
        lambda t, r: t.strip().lower().startswith(str(r["prompt_to_repeat"]).strip().lower()),
    ),
    "startend:end_checker": (
        ("end_phrase",),
        lambda t, r: t.strip().strip("\"'").lower().endswith(str(r["end_phrase"]).strip().lower()),
    ),
    "startend:quotation": ((), lambda t, r: len(t.strip()) > 1 and t.strip()[0] == t.strip()[-1] == '"'),
    "change_case:capital_word_frequency": (
        ("capital_frequency", "capital_relation"),
        lambda t, r: _compare(
            sum(1 for w in _words(t) if w.isupper()), r["capital_relation"], r["capital_frequency"]
        ),
    ),
    "change_case:english_capital": ((), lambda t, r: t.isupper()),
    "change_case:english_lowercase": ((), lambda t, r: t.islower()),
    "punctuation:no_comma": ((), lambda t, r: "," not in t),
}
UNSUPPORTED = {"language:response_language": "needs a language detector (not available offline)"}


def rule_problem(rule: Mapping[str, Any]) -> str | None:
    """Why ``rule`` cannot be checked (unknown or unsupported id, missing or bad kwargs), or None."""
    rule_id = rule.get("id")
    if rule_id in UNSUPPORTED:
        return f"ifeval rule {rule_id} is not supported: {UNSUPPORTED[rule_id]}"
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


def follows(rule: Mapping[str, Any], response: str) -> bool:
    """Whether ``response`` follows ``rule`` (strict). An empty or blank response follows nothing."""
    problem = rule_problem(rule)
    if problem:
        raise ValueError(problem)
    if not response.strip():
        return False
    return bool(CHECKS[rule["id"]][1](response, rule))
