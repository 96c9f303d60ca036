"""Which tasks can test a claim here, and the paired score claims (evaluate.findings)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from speechalign.evaluate import behaviour as B
from speechalign.evaluate import findings as F


def item(i: int, task: str, choices: int = 0):
    return SimpleNamespace(id=f"{task}-{i}", task=task, choices=("x",) * choices)


def score_rows(system: str, seeds, task: str, values) -> list[tuple]:
    """Rows of the scores table: ``values[s][i]`` of seed s and item i."""
    return [
        (system, seed, task, f"{task}-{i}", float(v))
        for seed, row in zip(seeds, values, strict=True)
        for i, v in enumerate(row)
    ]


def scores_table(*parts) -> pd.DataFrame:
    rows = [r for part in parts for r in part]
    return pd.DataFrame(rows, columns=["system", "seed", "task", "item", "score"])


def test_chance_is_one_over_the_choices_for_letter_tasks_and_zero_otherwise():
    assert F.chance_level([item(0, "mcq", 4), item(1, "mcq", 2)]) == pytest.approx(0.375)
    assert F.chance_level([item(0, "sqa")]) == 0.0
    assert F.chance_level([]) == 0.0


N = 12
MCQ = [item(i, "mcq", 4) for i in range(N)]
SQA = [item(i, "sqa") for i in range(N)]


def test_a_task_the_text_run_cannot_do_is_not_measurable():
    # mcq: text right on 3 of 12 (chance 0.25): not above chance; sqa: text right on all, the floor on none
    scores = scores_table(
        score_rows("text", [0], "mcq", [[1, 1, 1] + [0] * 9]),
        score_rows("untrained", [0, 1], "mcq", [[0] * N, [0] * N]),
        score_rows("text", [0], "sqa", [[1] * N]),
        score_rows("untrained", [0, 1], "sqa", [[0] * N, [0] * N]),
    )
    table = F.task_measurability(scores, MCQ + SQA, 0.95, 500, 0).set_index("task")
    assert not table.loc["mcq", "measurable"] and "not above chance" in table.loc["mcq", "why"]
    assert table.loc["sqa", "measurable"]
    assert table.loc["sqa", "text_mean"] == 1.0 and table.loc["sqa", "text_minus_untrained"] == 1.0


def test_above_chance_but_no_better_than_the_floor_is_not_measurable():
    # the text run and the deaf model both answer everything right: the audio cannot matter here
    scores = scores_table(
        score_rows("text", [0], "sqa", [[1] * N]), score_rows("untrained", [0], "sqa", [[1] * N])
    )
    table = F.task_measurability(scores, SQA, 0.95, 200, 0).set_index("task")
    assert not table.loc["sqa", "measurable"] and "floor" in table.loc["sqa", "why"]


def test_score_claims_pair_seeds_and_items_and_skip_unmeasurable_tasks():
    rng = np.random.default_rng(0)
    seeds = [0, 1, 2]
    sift = (rng.random((3, N)) < 0.8).astype(float)
    sit = (rng.random((3, N)) < 0.2).astype(float)
    scores = scores_table(
        score_rows("sift_s", seeds, "sqa", sift),
        score_rows("sit_s", seeds, "sqa", sit),
        score_rows("sift_s", seeds, "mcq", np.ones((3, N))),
        score_rows("sit_s", seeds, "mcq", np.zeros((3, N))),
    )
    measurable = pd.DataFrame({"task": ["mcq", "sqa"], "measurable": [False, True]})
    claim = F.ScoreClaim("SIFT beats SIT", "sift_s", "sit_s", None, "68.70 vs 57.89")
    out = F.score_claims(scores, measurable, 0.95, 500, 0, claims=[claim]).set_index("task")
    assert out.loc["mcq", "verdict"] == F.NOT_MEASURABLE and np.isnan(out.loc["mcq", "difference"])
    # the mcq gap of 1.0 is left out of the overall: it is the sqa difference alone, by hand
    assert out.loc["sqa", "difference"] == pytest.approx((sift - sit).mean())
    assert out.loc["overall", "difference"] == pytest.approx((sift - sit).mean())
    assert out.loc["sqa", "verdict"] == "holds" and out.loc["sqa", "p_value"] < 0.05
    assert out.loc["sqa", "n_seeds"] == 3 and out.loc["sqa", "n_items"] == N
    readable = B.readable_comparisons(out.reset_index())
    assert list(readable["task"]) == ["mcq", "sqa", "overall"]
    assert readable.loc[0, "paper"] == "68.70 vs 57.89"
    claims = B.metrics(pd.DataFrame(columns=B.SUMMARY_COLUMNS), out.reset_index())["comparisons"]
    assert claims["sift_s vs sit_s/score/mcq"] == {"verdict": F.NOT_MEASURABLE}  # no numbers there
    assert claims["sift_s vs sit_s/score/overall"]["verdict"] == "holds"


def test_a_claim_whose_systems_did_not_run_has_no_row():
    scores = scores_table(score_rows("sift_s", [0], "sqa", [[1] * N]))
    measurable = pd.DataFrame({"task": ["sqa"], "measurable": [True]})
    assert F.score_claims(scores, measurable, 0.95, 100, 0).empty


def test_pilot_sizing_by_hand():
    # nll per item: sift_s lower than untrained by 1, 3, 1, 3 (seeds 0 and 1 identical): mean -2, sd 1.1547
    rows = pd.DataFrame(
        [
            (system, seed, "sqa", f"q{i}", value)
            for seed in (0, 1)
            for i, (s, u) in enumerate([(1, 2), (1, 4), (2, 3), (0, 3)])
            for system, value in (("sift_s", s), ("untrained", u))
        ],
        columns=["system", "seed", "task", "item", "nll"],
    )
    sizing = F.pilot_sizing(rows, "sift_s", "untrained")
    overall = sizing["all"]
    assert (overall["items"], overall["seeds"], overall["mean"]) == (4, 2, -2.0)
    assert overall["sd"] == pytest.approx(1.1547, abs=1e-4)
    # ((1.959964 + 0.841621) * 1.1547 / 1.0)^2 = 10.47 -> 11 items for half the effect
    assert overall["items_needed"] == 11 and sizing["sqa"] == overall
    with pytest.raises(Exception, match="no items where both"):
        F.pilot_sizing(rows, "sift_s", "tsit_s")
