"""Behaviour metrics on hand-computed cases: transcript repeats, the mismatched-audio partners, the per-item
rows (NLL per token, agreement against text's answer and against the mismatched control, text left out of
agreement), the gap closed, the summaries and the paired comparisons of claims; and the teacher-forced NLL
through a tiny composed backend against the straightforward full-logits computation."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_models import tiny_composed, tone
from tiny_sift import needs_tokenizer

from speechalign.evaluate import behaviour as B
from speechalign.evaluate.systems import Answer
from speechalign.metrics.intervals import PairedComparison


@pytest.mark.parametrize(
    ("answer", "transcript", "coverage", "purity", "repeats"),
    [
        ("The cat sat on the mat.", "the cat sat on the mat", 1.0, 1.0, 1.0),  # the transcript itself
        ("cat sat on mat", "The cat sat on the big mat.", 0.8, 1.0, 1.0),  # 4 of 5 words: at the threshold
        ("cat sat mat", "The cat sat on the big mat.", 0.6, 1.0, 0.0),  # a fragment
        ("Sure! The cat sat on the mat.", "the cat sat on the mat", 1.0, 0.8, 1.0),  # a word of preamble
        ("The cat sat on the mat. Cats love it.", "the cat sat on the mat", 1.0, 4 / 7, 0.0),  # + answer
        ("D", "What is nine times nine? Option D, eighty-one.", 1 / 9, 1.0, 0.0),  # an option letter
        ("Mary is 42.", "Mary is forty-two", 1.0, 1.0, 1.0),  # numbers and hyphens normalised
        ("", "the cat sat", math.nan, math.nan, 0.0),  # no answer repeats nothing
    ],
)
def test_repeats_the_transcript_by_hand(answer, transcript, coverage, purity, repeats):
    got = B.containment(answer, transcript)
    assert got == pytest.approx((coverage, purity), nan_ok=True)
    assert B.repeats_transcript(answer, transcript, 0.8) == repeats


def test_no_transcript_has_no_repeat_rate():
    assert math.isnan(B.repeats_transcript("anything", " ", 0.8))


def item(i, task, audio="a.flac", spoken="words"):
    return SimpleNamespace(id=i, task=task, audio=audio, spoken=spoken)


def test_mismatched_partners_are_the_next_item_of_the_same_task():
    items = [item("m1", "mcq"), item("s1", "sqa"), item("m2", "mcq"), item("m3", "mcq", audio=None),
             item("s2", "sqa"), item("i1", "ifeval"), item("m4", "mcq", spoken="")]  # fmt: skip
    partners = {k: v.id for k, v in B.mismatched_partners(items).items()}
    assert partners == {"m1": "m2", "m2": "m1", "s1": "s2", "s2": "s1"}  # no audio, no text, alone: none
    assert B.mismatched_partners(items, per_task=1) == {}  # the control on the first item of a task: no pair


ITEMS = [item("q1", "sqa", spoken="Ann lives in Paris"), item("q2", "sqa", spoken="Bob is a baker")]
TEXT = {"q1": "She lives in Paris.", "q2": "He bakes bread."}


def answers(system, seed, nll, answer, mismatched=None):
    """One system's answers to q1 and q2: summed NLLs over 2 tokens, and the mismatched control's answers."""
    return [
        Answer(system, seed, i, "sqa", "passages", answer[k], reference_nll=nll[k], reference_tokens=2,
               mismatched_answer=None if mismatched is None else mismatched[k],
               mismatched_nll=None if mismatched is None else nll[k] + 1.0)
        for k, i in enumerate(("q1", "q2"))
    ]  # fmt: skip


ANSWERS = [
    *answers("text", 0, [1.0, 1.0], [TEXT["q1"], TEXT["q2"]]),
    *answers("untrained", 0, [5.0, 7.0], ["noise", "noise"], ["noise", "noise"]),
    *answers("untrained", 1, [5.0, 7.0], ["noise", ""], ["noise", "noise"]),
    *answers("sift_s", 0, [3.0, 3.0], [TEXT["q1"], "noise"], ["noise", "noise"]),
    *answers("sift_s", 1, [3.0, 5.0], [TEXT["q1"], TEXT["q2"]], [TEXT["q2"], "noise"]),
    *answers("tsit_s", 0, [4.0, 6.0], ["Ann lives in Paris", "Bob is a baker"], ["noise", "noise"]),
]


def embed(texts):
    """Orthogonal unit vectors per distinct text: cosine 1 for the same text, 0 otherwise."""
    distinct = sorted(set(texts))
    return np.eye(len(distinct))[[distinct.index(t) for t in texts]]


@pytest.fixture
def rows():
    return B.behaviour_rows(ITEMS, ANSWERS, embed, 0.8)


def test_behaviour_rows_by_hand(rows):
    r = rows.set_index(["system", "seed", "item"])
    assert r.loc[("sift_s", 1, "q2"), "nll"] == 2.5 and r.loc[("untrained", 0, "q1"), "nll"] == 2.5
    assert r.loc[("sift_s", 1, "q2"), "nll_mismatched"] == 3.0
    assert r.loc[("text", 0, "q1"), "nll"] == 0.5  # the floor: text's own answers
    assert math.isnan(r.loc[("text", 0, "q1"), "agreement"])  # 1 by construction: left out
    assert (
        r.loc[("sift_s", 0, "q1"), ["agreement", "agreement_mismatched", "agreement_gain"]] == [1, 0, 1]
    ).all()
    assert r.loc[("sift_s", 1, "q1"), "agreement_gain"] == 1.0  # another item's text answer: cosine 0
    assert r.loc[("untrained", 1, "q2"), "agreement"] == 0.0  # an empty answer agrees 0
    assert r.loc[("tsit_s", 0, "q1"), "repeats"] == 1.0 and r.loc[("sift_s", 0, "q1"), "repeats"] == 0.0


def test_gap_closed_by_hand(rows):
    gaps = B.gap_closed(rows)
    # per token: untrained 3.0 (both seeds), text 0.5; sift_s (1.5 + 2.0) / 2 = 1.75; tsit_s seed 0 only: 2.5
    assert gaps["sift_s"] == pytest.approx((3.0 - 1.75) / (3.0 - 0.5))
    assert gaps["tsit_s"] == pytest.approx((3.0 - 2.5) / 2.5)
    assert gaps["untrained"] == 0.0 and "text" not in gaps
    assert B.gap_closed(rows[rows["system"] != "text"]) == {}


def test_summary_means_over_seeds_and_items_with_intervals(rows):
    summary = B.summarise(rows, 0.95, 200, 0).set_index(["system", "task", "metric"])
    nll = summary.loc[("sift_s", "all", "nll")]
    assert nll["mean"] == pytest.approx(1.75) and nll["low"] <= 1.75 <= nll["high"]
    assert (nll["n_seeds"], nll["n_items"]) == (2, 2)
    assert ("text", "all", "agreement") not in summary.index
    assert summary.loc[("sift_s", "all", "gap_closed"), "mean"] == pytest.approx(0.5)
    assert summary.loc[("tsit_s", "sqa", "repeats"), "mean"] == 1.0
    readable = B.readable_summary(B.summarise(rows, 0.95, 200, 0)).set_index("system")
    assert readable.loc["sift_s", "gap_closed"] == "0.500" and readable.loc["text", "agreement"] == "n/a"


def test_paired_comparisons_of_claims(rows):
    claims = (
        B.Claim("sift_s beats untrained", "sift_s", "untrained", "nll"),
        B.Claim("sift_s agrees more", "sift_s", "untrained", "agreement_gain"),
        B.Claim("text is the floor", "text", "sift_s", "nll"),
        B.Claim("tsit_s repeats more", "sift_s", "tsit_s", "repeats"),
        B.Claim("not run", "sit_s", "tsit_s", "nll"),
    )
    table = B.compare(rows, 0.95, 500, 0, claims).set_index("claim")
    assert "not run" not in table.index
    beats = table.loc["sift_s beats untrained"]
    # per item, mean over seeds: q1 1.5 - 2.5 = -1.0, q2 2.0 - 3.5 = -1.5
    assert beats["difference"] == pytest.approx(-1.25)
    assert beats["p_value"] == pytest.approx(0.5)  # exact sign flips over 2 items: 2 of 4 as extreme
    # every bootstrap draw < 0, but no sign-flip p over 2 items can be below 0.05: not resolved
    assert (beats["n_seeds"], beats["n_items"], beats["verdict"]) == (2, 2, B.UNRESOLVED)
    floor = table.loc["text is the floor"]  # text, run once, stands beside both of sift_s's seeds
    assert floor["difference"] == pytest.approx(0.5 - 1.75) and floor["n_seeds"] == 2
    assert table.loc["tsit_s repeats more", "n_seeds"] == 1  # tsit_s ran seed 0 only
    clear = PairedComparison(difference=0.2, low=0.1, high=0.3, p_value=0.01, seeds=1, items=20)
    assert B.verdict(clear, True, 0.95) == B.HOLDS and B.verdict(clear, False, 0.95) == B.OPPOSITE
    assert B.verdict(replace(clear, low=-0.1), True, 0.95) == B.UNRESOLVED
    # the interval alone is not enough: p must agree
    assert B.verdict(replace(clear, p_value=0.125), True, 0.95) == B.UNRESOLVED
    assert B.verdict(replace(clear, p_value=0.125), True, 0.8) == B.HOLDS
    readable = B.readable_comparisons(table.reset_index())
    assert readable.loc[0, "seeds x items"] == "2 x 2" and readable.loc[0, "sign wanted"] == "-"
    metrics = B.metrics(B.summarise(rows, 0.95, 200, 0), table.reset_index())
    assert metrics["comparisons"]["sift_s vs untrained/nll"]["verdict"] == B.UNRESOLVED
    assert metrics["systems"]["sift_s"]["nll"] == 1.75


@needs_tokenizer
def test_nll_through_the_composed_backend_equals_the_full_logits_computation():
    backend = tiny_composed()
    run = backend.audio_run(tone(1.0), "What did you hear?")
    text = "A tone, rising and falling."
    got, empty = B.nll_scorer(backend)([(run, text), (run, "")])
    ids = backend.tokenizer(text, add_special_tokens=False).input_ids
    embeds = torch.cat(
        [run.payload["inputs_embeds"][0], backend.llm.get_input_embeddings()(torch.tensor(ids))]
    )
    with torch.no_grad():
        logits = backend.llm(inputs_embeds=embeds[None]).logits[0]  # (S, V)
    start = run.length - 1  # the last prompt position predicts the first answer token
    expected = -sum(torch.log_softmax(logits[start + k], -1)[t].item() for k, t in enumerate(ids))
    assert got[1] == len(ids) and got[0] == pytest.approx(expected, rel=1e-5)
    assert empty is None


@needs_tokenizer
def test_answer_jobs_record_the_behaviour_match_and_the_control(tmp_path, monkeypatch):
    """`speechalign evaluate answer` on a tiny composed model: text answers first and scores its own answers;
    the untrained system, given them (--references), records their NLL under its run and under the
    mismatched control's, and answers the control."""
    import json

    import soundfile as sf

    import speechalign.backends as backends
    from speechalign.cli import main
    from speechalign.evaluate.systems import read_answers
    from speechalign.metrics.bench.items import BenchItem, write_items

    monkeypatch.setattr(backends, "load_backend", lambda spec, seed: tiny_composed())
    for name, seconds in (("a", 1.0), ("b", 1.5)):
        sf.write(tmp_path / f"{name}.flac", tone(seconds), 16000)
    write_items(tmp_path / "items.jsonl", [
        BenchItem(f"m{k}", "mcq", "arithmetic", str(tmp_path / f"{n}.flac"), f"Two plus {k}? A four B five",
                  "Answer with the letter.", ("A",), ("four", "five"))
        for k, n in ((1, "a"), (2, "b"))
    ])  # fmt: skip
    params = {
        "evaluate": {"asr": "faster-whisper", "max_new_tokens": 4, "batch_size": 2, "control_items": None},
        "backends": {
            "system_prompt": "You are a helpful assistant.",
            "layout": "{speech}\n{task}",
            "batch_size": 2,
        },
        "train": {"projector_hidden": 24, "stack": 4},
        "models": {"llm": "x", "whisper": "y"},
    }
    options = [f"--{k}-params={json.dumps(v)}" for k, v in params.items()]
    common = ["evaluate", "answer", "--items", str(tmp_path / "items.jsonl"), "--seed", "0", *options]
    assert main([*common, "--system", "text", "--out", str(tmp_path / "text.jsonl")]) == 0
    text = read_answers(tmp_path / "text.jsonl")
    assert all(a.reference_tokens and a.reference_nll > 0 and a.mismatched_item is None for a in text)
    out, references = tmp_path / "untrained.jsonl", str(tmp_path / "text.jsonl")
    assert main([*common, "--system", "untrained", "--out", str(out), "--references", references]) == 0
    m1, m2 = read_answers(out)
    assert (m1.mismatched_item, m2.mismatched_item) == ("m2", "m1") and m1.mismatched_answer is not None
    assert m1.reference_tokens == next(a.reference_tokens for a in text if a.item == "m1")
    assert m1.reference_nll > 0 and m1.mismatched_nll > 0 and m1.mismatched_nll != m1.reference_nll
