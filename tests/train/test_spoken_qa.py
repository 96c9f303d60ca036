"""Spoken QA: the trained model paired with its untrained control, item by item, and the answer scores."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_sift import model_config, needs_tokenizer

from speechalign.backends.checkpoint import Projectors
from speechalign.errors import UserFacingError
from speechalign.train.model import SiftSpeechLLM
from speechalign.train.spoken_qa import (
    QAItem,
    answer_pieces,
    answer_scores,
    audio_response_nll,
    compare_with_control,
    greedy_answers,
    reused_text_run,
    score_model,
    text_run,
    text_run_key,
)


def test_paired_comparison_of_trained_and_untrained_items():
    def rows(nll, f1, contains):
        return [
            {"id": f"q{i}", "answer_nll": n, "token_f1": f, "contains_answer": c}
            for i, (n, f, c) in enumerate(zip(nll, f1, contains, strict=True))
        ]

    trained = rows([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0])
    untrained = rows([2.0, 2.0, 5.0, 4.5], [0.0, 0.5, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0])[::-1]  # any order
    result = compare_with_control(trained, untrained, confidence=0.95, resamples=500, seed=1)
    nll = result["answer_nll"]
    assert result["items"] == 4
    assert nll["difference"] == pytest.approx((-1.0 + 0.0 - 2.0 - 0.5) / 4)
    assert (nll["better"], nll["worse"], nll["ties"], nll["higher_is_better"]) == (3, 0, 1, False)
    assert -2.0 <= nll["low"] <= nll["difference"] <= nll["high"] <= 0.0  # bootstrap means of the diffs
    assert nll["p_value"] == pytest.approx(4 / 16)  # exact sign flips: 4 of 16 as extreme (0 flips freely)
    f1 = result["token_f1"]
    assert f1["difference"] == pytest.approx((0.5 + 0.0 - 0.25 + 1.0) / 4)
    assert (f1["better"], f1["worse"], f1["ties"]) == (2, 1, 1)
    same = compare_with_control(trained, trained, confidence=0.95, resamples=2000)["contains_answer"]
    assert (same["difference"], same["low"], same["high"], same["ties"]) == (0.0, 0.0, 0.0, 4)
    with pytest.raises(UserFacingError, match="other items"):
        compare_with_control(trained, untrained[1:], confidence=0.95, resamples=2000)
    assert answer_scores("She is forty-two.", "42") == {
        "contains_answer": 1.0,
        "token_f1": pytest.approx(2 / 3),
    }
    assert answer_scores("", "42") == {"contains_answer": 0.0, "token_f1": 0.0}  # empty: wrong


def qa_items(frames, question, answer, transcript) -> list[QAItem]:
    """Items q0, q1, ... with random audio features of ``frames[i]`` positions and texts made from ``i``."""
    return [
        QAItem(f"q{i}", question(i), answer(i), transcript(i), torch.randn(n, 8), torch.randn(n, 8))
        for i, n in enumerate(frames)
    ]


@needs_tokenizer
def test_batched_answers_equal_one_at_a_time(tiny):
    """Prompts of three lengths in one left-padded batch: each answer as when generated alone."""
    llm, tokenizer = tiny
    config = model_config(False)
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    torch.manual_seed(0)
    width = llm.get_input_embeddings().embedding_dim
    prompts = [torch.randn(n, width) for n in (12, 5, 9)]
    batched, nlls = greedy_answers(model, prompts, max_new_tokens=6)
    assert batched == [greedy_answers(model, [p], max_new_tokens=6)[0][0] for p in prompts]
    assert len(set(batched)) > 1  # distinct answers: the rows did not get each other's
    assert nlls == [None, None, None]  # no responses, no NLLs


@needs_tokenizer
def test_a_trained_model_reuses_its_controls_text_run_only_when_it_is_the_same(tiny):
    """The text run is the frozen LLM's: a trained model's check takes the control's answers and NLLs and
    scores exactly as if it had run them, and runs its own when anything the text run depends on differs."""
    llm, tokenizer = tiny
    config = model_config(False)
    torch.manual_seed(0)
    items = qa_items(
        (9, 9, 9), lambda i: f"Question {i}?", lambda i: "forty", lambda i: f"the answer is {i} forty"
    )
    control = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    trained = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=1))  # other projector weights
    answers, text_nlls = text_run(control, items, "Be brief.", 5)
    control_result = score_model(control, items, "Be brief.", answers, 5, text_nlls)
    key = text_run_key(trained, items, "Be brief.", 5)
    assert control_result["text_run"] == key  # the projectors are not part of it
    reused_answers, nlls = reused_text_run(control_result, key)
    assert (reused_answers, nlls) == (answers, text_nlls) == text_run(trained, items, "Be brief.", 5)
    assert reused_text_run(control_result, text_run_key(trained, items, "Be long.", 5)) is None
    assert reused_text_run(control_result, text_run_key(trained, items, "Be brief.", 6)) is None
    assert reused_text_run(control_result, text_run_key(trained, items[:2], "Be brief.", 5)) is None
    other_gold = [dataclasses.replace(item, answer="fifty") for item in items]  # the NLLs are of the gold
    assert reused_text_run(control_result, text_run_key(trained, other_gold, "Be brief.", 5)) is None
    assert reused_text_run({"rows": control_result["rows"]}, key) is None  # a result from before the key


@needs_tokenizer
def test_gold_nlls_read_off_the_generation_equal_a_forward_of_their_own(tiny):
    """The audio run's gold-answer NLL (from the generation's left-padded prefill) is the teacher-forced loss
    of a separate unpadded forward, item by item, for items whose prompts differ in length."""
    llm, tokenizer = tiny
    config = model_config(False)
    torch.manual_seed(0)
    items = qa_items(
        (9, 30, 17), lambda i: "Question?" * (i + 1), lambda i: "forty " * (i + 1), lambda i: "the answer"
    )
    model = SiftSpeechLLM(config, llm, tokenizer, Projectors(config, seed=0))
    answers, text_nlls = text_run(model, items, "Be brief.", 5)
    rows = score_model(model, items, "Be brief.", answers, 5, text_nlls)["rows"]
    for item, row in zip(items, rows, strict=True):
        separate = audio_response_nll(model, answer_pieces(model, "Be brief.", item, item.answer), item)
        assert row["answer_nll"] == pytest.approx(separate, rel=1e-5)
    assert len({row["answer_nll"] for row in rows}) == 3
