"""IFEval-style rules: each id on a response that follows it and one that does not; bad rules are refused."""

from __future__ import annotations

import pytest

from speechalign.metrics.bench.ifeval import CHECKS, follows, rule_problem

CASES = [
    # (rule, follows, does not follow)
    ({"id": "keywords:existence", "keywords": ["river", "stone"]}, "A Stone by the river.", "A stone."),
    ({"id": "keywords:forbidden_words", "forbidden_words": ["cat"]}, "A catalogue.", "The Cat sat."),
    (
        {"id": "keywords:frequency", "keyword": "sun", "frequency": 2, "relation": "at least"},
        "Sun, sun.",
        "Sunny sun.",
    ),
    (
        {"id": "keywords:letter_frequency", "letter": "z", "let_frequency": 2, "let_relation": "less than"},
        "A zebra.",
        "Zig zag.",
    ),
    (
        {"id": "length_constraints:number_words", "num_words": 3, "relation": "less than"},
        "two words",
        "now three words",
    ),
    (
        {"id": "length_constraints:number_sentences", "num_sentences": 2, "relation": "at least"},
        "One. Two!",
        "Only one sentence here.",
    ),
    ({"id": "length_constraints:number_paragraphs", "num_paragraphs": 2}, "First.\n***\nSecond.", "First."),
    (
        {
            "id": "length_constraints:nth_paragraph_first_word",
            "num_paragraphs": 2,
            "nth_paragraph": 2,
            "first_word": "then",
        },
        "First part.\n\nThen more.",
        "First part.\n\nAfter that.",
    ),  # fmt: skip
    ({"id": "detectable_content:number_placeholders", "num_placeholders": 2}, "[name] at [place]", "[name]"),
    ({"id": "detectable_content:postscript", "postscript_marker": "P.S."}, "Hi.\nP.S. bye", "Hi. PS bye"),
    (
        {"id": "detectable_format:number_bullet_lists", "num_bullets": 2},
        "* one\n* two",
        "* one\n* two\n* three",
    ),
    ({"id": "detectable_format:constrained_response"}, "My answer is yes.", "Yes."),
    (
        {"id": "detectable_format:number_highlighted_sections", "num_highlights": 2},
        "*a* and **b**",
        "*a* only",
    ),
    (
        {"id": "detectable_format:multiple_sections", "section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1 a\nSECTION 2 b",
        "SECTION 1 a",
    ),
    ({"id": "detectable_format:json_format"}, '```json\n{"a": 1}\n```', "{a: 1}"),
    ({"id": "detectable_format:title"}, "<<Cats>> are nice", "<<>> are nice"),
    ({"id": "combination:two_responses"}, "One way.\n******\nAnother way.", "Same.\n******\nSame."),
    ({"id": "combination:repeat_prompt", "prompt_to_repeat": "Say hi."}, "say hi. Hi!", "Hi!"),
    (
        {"id": "startend:end_checker", "end_phrase": "Is there anything else?"},
        "Done. is there anything else?",
        "Done.",
    ),
    ({"id": "startend:quotation"}, '"quoted"', '"half'),
    (
        {"id": "change_case:capital_word_frequency", "capital_frequency": 2, "capital_relation": "at least"},
        "VERY LOUD words",
        "One LOUD word",
    ),
    ({"id": "change_case:english_capital"}, "ALL CAPS, 2 NUMBERS.", "Not all caps"),
    ({"id": "change_case:english_lowercase"}, "all lower, 2 numbers.", "Not lower"),
    ({"id": "punctuation:no_comma"}, "No commas here.", "One, comma."),
]


@pytest.mark.parametrize("rule, good, bad", CASES, ids=[c[0]["id"] for c in CASES])
def test_every_rule_by_hand(rule, good, bad):
    assert follows(rule, good) is True
    assert follows(rule, bad) is False
    assert follows(rule, "   ") is False  # an empty response follows nothing


def test_every_supported_id_has_a_hand_case():
    assert {c[0]["id"] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize(
    "rule, problem",
    [
        ({"id": "nope"}, "unknown ifeval rule id 'nope'"),
        ({"id": "language:response_language", "language": "en"}, "is not supported"),
        ({"id": "length_constraints:number_words", "relation": "at least"}, "lacks ['num_words']"),
        ({"id": "length_constraints:number_words", "relation": "more", "num_words": 3}, "must be one of"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule, problem):
    assert problem in rule_problem(rule)
    with pytest.raises(ValueError, match="ifeval rule"):
        follows(rule, "text")
