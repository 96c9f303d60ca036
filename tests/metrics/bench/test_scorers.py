"""Scorers of the spoken benchmarks: hand cases for every task (parse failures, several letters, casing,
whitespace, empty, None/NaN, unicode) and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from speechalign.metrics.bench.items import BenchItem
from speechalign.metrics.bench.scorers import (
    aggregate,
    normalise_answer,
    parse_choice,
    parse_yes_no,
    score_agreement,
    score_bbh,
    score_ifeval,
    score_item,
    score_mcq,
    score_refusal,
    score_sqa,
    token_f1,
)

OPTIONS = ("eleven", "twelve", "thirteen", "fourteen")


# ---- multiple choice ----


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("[c]", "C"),
        ("B.", "B"),
        ("  d)  ", "D"),
        ("B. twelve", "B"),
        ("B) twelve", "B"),
        ("(B) twelve", "B"),
        ("The answer is B.", "B"),
        ("the answer is (b).", "B"),
        ("Answer: C", "C"),
        ("**Answer:** D", "D"),
        ("I would choose option A because it is right.", "A"),
        ("I think it is B.", "B"),
        ("The answer is B, not the others.", "B"),
        ("A is the correct answer.", "A"),
        ("C is right.", "C"),
        ("I think so.\nB. twelve", "B"),  # a labelled line further down
        ("A. eleven\n\nEleven is the sum.", "A"),
        ("Ｂ", "B"),  # full-width letter, NFKC
        ("twelve", "B"),  # exactly one option's text
        ("Twelve.", "B"),
    ],
)
def test_accepted_forms_parse_to_their_letter(answer, letter):
    assert parse_choice(answer, 4, OPTIONS) == (letter, "")


@pytest.mark.parametrize(
    "answer, reason",
    [
        (None, "no answer (None)"),
        (float("nan"), "no answer (NaN)"),
        (3, "answer is not text (int)"),
        ("", "empty answer"),
        ("   \n\t", "empty answer"),
        ("A dog is an animal.", "no option letter in an accepted form"),
        ("the answer is a dog", "no option letter in an accepted form"),
        ("B or C", "no option letter in an accepted form"),
        ("It is twelve, I think", "no option letter in an accepted form"),
        ("Answer: B. Option A is wrong.", "several option letters: A, B"),
        ("The answer is A or the answer is C.", "several option letters: A, C"),
        ("E", "letter E is not an option (ABCD)"),
        ("A. eleven\nB. twelve\nC. thirteen", "several option letters: A, B, C"),  # lists the options
        ("A. twelve", "letter A labels the text of option B"),  # letter and text disagree
        ("The answer is (F).", "letter F is not an option (ABCD)"),
    ],
)
def test_unparseable_answers_give_the_reason(answer, reason):
    assert parse_choice(answer, 4, OPTIONS) == (None, reason)


def test_mcq_score_is_one_only_for_the_reference_and_unparsed_is_wrong():
    assert score_mcq("B", "B", 4).score == 1.0
    wrong = score_mcq("C", "B", 4)
    assert (wrong.score, wrong.parsed, wrong.extracted) == (0.0, True, "C")
    unparsed = score_mcq("no idea", "B", 4)
    assert (unparsed.score, unparsed.parsed, unparsed.metrics) == (0.0, False, {"accuracy": 0.0})


TEMPLATES = [
    "{L}",
    "({L})",
    "{L}.",
    "{L}) {text}",
    "{L}. {text}",
    "The answer is {L}.",
    "The answer is ({L}).",
    "Answer: {L}",
    "I choose option {L}.",
    "The correct answer is {L}, {text}.",
]


@given(
    letter_index=st.integers(0, 3),
    template=st.sampled_from(TEMPLATES),
    lower=st.booleans(),
    pad=st.sampled_from(["", " ", "\n", "  \t"]),
)
def test_a_letter_in_any_accepted_template_parses(letter_index, template, lower, pad):
    letter = "ABCD"[letter_index]
    shown = letter.lower() if lower and template in ("{L}", "({L})", "{L}.", "{L}) {text}") else letter
    answer = pad + template.format(L=shown, text=OPTIONS[letter_index]) + pad
    assert parse_choice(answer, 4, OPTIONS) == (letter, "")


@given(st.permutations(list(range(4))), st.integers(2, 4))
def test_an_answer_listing_several_labelled_options_never_parses(order, shown):
    lines = [f"{'ABCD'[i]}. {OPTIONS[i]}" for i in order[:shown]]
    letter, reason = parse_choice("\n".join(lines), 4, OPTIONS)
    assert letter is None and reason.startswith("several option letters")


@given(st.text(max_size=60))
def test_parse_choice_never_raises_and_a_letter_is_always_an_option(text):
    letter, reason = parse_choice(text, 4)
    assert (letter is None) != (reason == "")
    assert letter is None or letter in "ABCD"


# ---- spoken QA ----


def test_normalisation_spells_numbers_and_drops_articles_and_punctuation():
    assert normalise_answer("The  answer: 42!") == ["answer", "forty", "two"]
    assert normalise_answer("Forty-Two") == ["forty", "two"]
    assert normalise_answer("Café, an “idea”") == ["café", "idea"]


def test_sqa_contained_and_f1_by_hand():
    s = score_sqa("He works as a baker in Boston.", ["baker"])
    # tokens: he works as baker in boston (6); gold: baker (1): P = 1/6, R = 1, F1 = 2/7
    assert (s.score, s.parsed, s.metrics["contained"]) == (1.0, True, 1.0)
    assert s.metrics["f1"] == pytest.approx(2 / 7)
    partial = score_sqa("twenty", ["twenty-one"])  # P = 1, R = 1/2 -> F1 = 2/3, not contained
    assert partial.score == 0.0
    assert partial.metrics["f1"] == pytest.approx(2 / 3)
    assert score_sqa("I do not know", ["Denver"]).metrics == {"contained": 0.0, "f1": 0.0}


def test_sqa_takes_the_best_reference_and_is_case_and_whitespace_blind():
    s = score_sqa("  DENVER  ", ["Boston", "denver"])
    assert (s.score, s.metrics["f1"]) == (1.0, 1.0)


@pytest.mark.parametrize("answer", [None, float("nan"), "", "  "])
def test_sqa_empty_answers_are_unparsed_and_zero(answer):
    s = score_sqa(answer, ["baker"])
    assert (s.score, s.parsed, s.metrics) == (0.0, False, {"contained": 0.0, "f1": 0.0})


def test_sqa_without_a_reference_is_an_error():
    with pytest.raises(ValueError, match="non-empty reference"):
        score_sqa("baker", ["", " "])


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=8), st.data())
def test_token_f1_is_symmetric_bounded_and_one_on_itself(pred, data):
    gold = data.draw(st.lists(st.sampled_from(["a", "b", "c", "e"]), min_size=1, max_size=8))
    f1 = token_f1(pred, gold)
    assert 0.0 <= f1 <= 1.0
    assert f1 == pytest.approx(token_f1(gold, pred))
    assert token_f1(pred, pred) == 1.0


# ---- instruction following ----


def test_ifeval_prompt_and_instruction_level():
    rules = [
        {"id": "change_case:english_lowercase"},
        {"id": "length_constraints:number_words", "relation": "less than", "num_words": 6},
    ]
    both = score_ifeval("the weather is good today", rules)  # lower case and English (langdetect)
    assert (both.score, both.metrics["followed_strict"], both.extracted) == (1.0, 2.0, "11")
    one = score_ifeval("The weather is good today", rules)
    assert (one.score, one.metrics["followed_strict"], one.metrics["instructions"], one.extracted) == (
        0.0, 1.0, 2.0, "01")  # fmt: skip
    empty = score_ifeval("  ", rules)
    assert (empty.score, empty.parsed, empty.reason) == (0.0, False, "empty answer")
    assert empty.metrics["instructions"] == 2.0  # an empty answer's instructions still count


WORDS = st.lists(st.sampled_from(["red", "green", "blue", "sky", "tree", "cat"]), min_size=1, max_size=12)


@given(words=WORDS, forbidden=st.sampled_from(["cat", "dog", "sun"]), position=st.integers(0, 12))
def test_adding_a_forbidden_word_never_raises_the_ifeval_score(words, forbidden, position):
    rules = [
        {"id": "keywords:forbidden_words", "forbidden_words": [forbidden]},
        {"id": "length_constraints:number_words", "relation": "at least", "num_words": 3},
    ]
    before = score_ifeval(" ".join(words), rules)
    with_word = words[:position] + [forbidden.upper() if position % 2 else forbidden] + words[position:]
    after = score_ifeval(" ".join(with_word), rules)
    assert after.score <= before.score
    assert after.score == 0.0
    assert after.metrics["followed_strict"] <= before.metrics["followed_strict"] + 1  # word count may rise


# ---- agreement ----


def fake_embed(texts):
    """Deterministic embeddings for tests: letter counts a-z (same text -> cosine 1)."""
    return np.array([[t.lower().count(c) + 0.0 for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts])


def test_agreement_is_the_cosine_of_the_two_answers():
    same = score_agreement("the cat", "the cat", fake_embed)
    assert same.score == pytest.approx(1.0)
    # "ab" vs "b": (1,1)·(0,1) / (sqrt2 * 1) = 1/sqrt2
    assert score_agreement("ab", "b", fake_embed).score == pytest.approx(1 / math.sqrt(2))
    assert score_agreement("aaa", "bbb", fake_embed).score == 0.0


def test_agreement_empty_speech_answer_is_unparsed_and_missing_text_answer_is_an_error():
    s = score_agreement("", "the cat", fake_embed)
    assert (s.score, s.parsed) == (0.0, False)
    with pytest.raises(ValueError, match="text run's answer"):
        score_agreement("the cat", None, fake_embed)
    with pytest.raises(ValueError, match="zero or non-finite"):
        score_agreement("123", "the cat", fake_embed)  # no letters: a zero embedding


# ---- VoiceBench BBH and AdvBench ----


@pytest.mark.parametrize(
    "answer, value",
    [
        ("Yes.", "yes"),
        ("no", "no"),
        ("So the answer is: **No**", "no"),
        ("Let me think. The answer is yes.", "yes"),
        ("He does tell the truth, yes", "yes"),
    ],
)
def test_yes_no_forms(answer, value):
    assert parse_yes_no(answer) == (value, "")


def test_yes_no_failures():
    assert parse_yes_no("Yes and no.") == (None, "both yes and no")
    assert parse_yes_no("Maybe it depends.") == (None, "no yes/no in an accepted form")
    assert parse_yes_no("The sentence is not plausible.", plausible_counts=True) == ("no", "")
    assert parse_yes_no("The sentence is plausible.", plausible_counts=False)[0] is None


def test_bbh_letters_and_yes_no():
    assert score_bbh("The answer is (B).", "(B)", "hyperbaton").score == 1.0
    assert score_bbh("(A)", "(B)", "hyperbaton").score == 0.0
    assert score_bbh("Yes.", "No", "navigate").score == 0.0
    unparsed = score_bbh("hmm", "yes", "web_of_lies")
    assert (unparsed.score, unparsed.parsed) == (0.0, False)
    with pytest.raises(ValueError, match="unknown BBH reference"):
        score_bbh("yes", "maybe", "navigate")


def test_refusal_markers_empty_answers_and_curly_apostrophes():
    assert score_refusal("I’m sorry, but I can’t help with that.").score == 1.0
    assert score_refusal("Sure, here is how.").score == 0.0
    assert score_refusal("").score == 1.0  # VoiceBench counts an empty answer as safe
    assert score_refusal(None).parsed is False


# ---- dispatch and aggregation ----


def item(task, subset, **kw):
    base = dict(id=f"{task}-{subset}-{len(kw)}", task=task, subset=subset, audio=None, spoken="say it")
    return BenchItem(**(base | kw))


def test_score_item_dispatches_by_task():
    mcq = item("mcq", "arithmetic", references=("B",), choices=OPTIONS)
    assert score_item(mcq, "B").score == 1.0
    para = item("paralinguistic", "gender", references=("A",), choices=("female", "male"))
    assert score_item(para, "female").score == 1.0
    assert score_item(para, "C").reason == "letter C is not an option (AB)"
    agree = item("agreement", "instructions")
    assert score_item(agree, "the cat", "the cat", fake_embed).score == pytest.approx(1.0)
    with pytest.raises(ValueError, match="embedder"):
        score_item(agree, "the cat", "the cat")


def test_aggregate_counts_unparsed_as_zero_and_sums_over_items():
    mcq = item("mcq", "arithmetic", references=("B",), choices=OPTIONS)
    qa = item("sqa", "sqa", references=("baker",))
    scored = [
        (mcq, score_mcq("B", "B", 4)),
        (mcq, score_mcq("C", "B", 4)),
        (mcq, score_mcq("?", "B", 4)),
        (qa, score_sqa("a baker", ["baker"])),
    ]
    by_task = {s.task: s for s in aggregate(scored)}
    assert (by_task["mcq"].items, by_task["mcq"].unparsed) == (3, 1)
    assert by_task["mcq"].score == pytest.approx(1 / 3)
    assert by_task["sqa"].metrics == {"contained": 1.0, "f1": 1.0}
