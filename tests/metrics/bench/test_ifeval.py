"""IFEval rules as the reference checks them: each id on a response that follows it and one that does not, the
loose and stricter modes, the reference's prompt and instruction levels, and bad rules refused."""

from __future__ import annotations

import pytest

from speechalign.metrics.bench.ifeval import (
    CHECKS,
    IfevalCounts,
    follows,
    ifeval,
    ifeval_counts,
    rule_problem,
)

CASES = [
    # (rule, follows, does not follow)
    ({"id": "keywords:existence", "keywords": ["river", "stone"]}, "A Stone by the river.", "A stone."),
    ({"id": "keywords:forbidden_words", "forbidden_words": ["cat"]}, "A catalogue.", "The Cat sat."),
    (
        {"id": "keywords:frequency", "keyword": "sun", "frequency": 2, "relation": "at least"},
        "Sunny sun.",  # substrings, as the reference counts
        "Sunday.",
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
    ({"id": "change_case:english_capital"}, "THE WEATHER IS NICE TODAY", "Not all caps"),
    ({"id": "change_case:english_lowercase"}, "the weather is nice today", "Not lower"),
    (
        {"id": "language:response_language", "language": "de"},
        "Das Wetter ist heute sehr schön und ich bin glücklich.",
        "The weather is very nice today and I am happy.",
    ),
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
        ({"id": "language:response_language"}, "lacks ['language']"),
        ({"id": "length_constraints:number_words", "relation": "at least"}, "lacks ['num_words']"),
        ({"id": "length_constraints:number_words", "relation": "more", "num_words": 3}, "must be one of"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule, problem):
    assert problem in rule_problem(rule)
    with pytest.raises(ValueError, match="ifeval rule"):
        follows(rule, "text")


# ---- where the reference differs from a first reading (issue 22) ----


def test_a_bold_postscript_passes_and_keywords_match_substrings_the_stricter_reading_is_named():
    ps = {"id": "detectable_content:postscript", "postscript_marker": "P.S."}
    assert follows(ps, "Hi.\n**P.S.** see you") and not follows(ps, "Hi.\n**P.S.** see you", mode="stricter")
    keyword = {"id": "keywords:existence", "keywords": ["rain"]}
    assert follows(keyword, "It was raining.") and not follows(keyword, "It was raining.", mode="stricter")
    forbidden = {"id": "keywords:forbidden_words", "forbidden_words": ["rain"]}
    assert follows(forbidden, "It was raining.")  # the reference's forbidden words are whole words


def test_a_padded_keyword_or_postscript_marker_is_stripped_as_the_reference_does():
    frequency = {"id": "keywords:frequency", "keyword": " sun ", "frequency": 2, "relation": "at least"}
    assert follows(frequency, "Sunny sun.")
    assert follows({"id": "detectable_content:postscript", "postscript_marker": " P.S. "}, "Hi.\np. s. bye")


def test_repeat_prompt_survives_the_answer_normaliser():
    from speechalign.metrics.bench.scorers import score_ifeval

    rule = {"id": "combination:repeat_prompt", "prompt_to_repeat": "Write ﬁve words\u2026 now."}
    assert score_ifeval("Write five words... now. One two three four five.", [rule]).score == 1.0


def test_loose_mode_forgives_a_first_line_and_markdown():
    rule = {"id": "startend:quotation"}
    answer = 'Sure, here it is:\n"A quoted reply"'
    assert not follows(rule, answer) and follows(rule, answer, mode="loose")
    title = {"id": "detectable_format:number_highlighted_sections", "num_highlights": 1}
    assert not follows({"id": "punctuation:no_comma"}, "Sure, here:\nno commas", mode="strict")
    assert follows({"id": "punctuation:no_comma"}, "Sure, here:\nno commas", mode="loose")
    assert follows(title, "*one*", mode="loose")


def test_instruction_level_is_followed_over_all_instructions_not_a_mean_of_shares():
    three = [{"id": "punctuation:no_comma"}, {"id": "startend:quotation"}, {"id": "detectable_format:title"}]
    one = [{"id": "punctuation:no_comma"}]
    scores = ifeval([('"no commas <<t>>"', three), ("a, b", one)])  # 3 of 3 followed, then 0 of 1
    assert scores["instruction_strict"] == 3 / 4  # a mean of per-prompt shares would say (1 + 0) / 2
    assert scores["prompt_strict"] == 1 / 2


def test_counts_sum_like_the_scores_of_the_whole():
    pairs = [("Yes.", [{"id": "punctuation:no_comma"}]), ("a, b", [{"id": "punctuation:no_comma"}])]
    total = sum((ifeval_counts(r, rules) for r, rules in pairs), IfevalCounts())
    assert (total.prompts, total.instructions, total.instructions_followed["loose"]) == (2, 2, 1)


def test_the_english_case_checks_also_ask_langdetect_for_english():
    # all capitals, but German: the reference's english_capital fails it (an upper-case check alone passes it)
    assert not follows(
        {"id": "change_case:english_capital"}, "DAS WETTER IST HEUTE SEHR SCHÖN UND ICH BIN FROH"
    )
    assert not follows(
        {"id": "change_case:english_lowercase"}, "das wetter ist heute sehr schön und ich bin froh"
    )


@pytest.mark.parametrize("module", ["speechalign.metrics.bench.ifeval", "speechalign.metrics.bench.scorers"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    outcome = doctest.testmod(importlib.import_module(module))
    assert outcome.attempted > 0 and outcome.failed == 0


def test_langdetect_is_seeded_so_reruns_agree():
    rule = {"id": "language:response_language", "language": "en"}
    text = "Short text, maybe English."
    assert len({follows(rule, text) for _ in range(5)}) == 1
