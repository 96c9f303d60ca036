"""AZEROS tables: cell values, intervals over seeds and items, missing systems and seeds, NaN scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.evaluate import tables as T
from speechalign.report.check import check_delimited


def scores_frame(rows):
    """rows: (system, seed, task, subset, item, score)."""
    return pd.DataFrame(rows, columns=["system", "seed", "task", "subset", "item", "score"])


def only(table, system, column):
    (row,) = table[(table["system"] == system) & (table["column"] == column)].itertuples()
    return row


SPEC3 = next(s for s in T.TABLES if s.number == 3)


def test_two_seeds_give_a_t_interval_over_seed_means():
    # seed means 0.5 and 0.7: mean 0.6, sd 0.1414, se 0.1, t(0.975, 1) = 12.7062 -> half width 1.27062
    scores = scores_frame(
        [("sift_s", 0, "mcq", "k", "a", 1.0), ("sift_s", 0, "mcq", "k", "b", 0.0)]
        + [("sift_s", 1, "mcq", "k", "a", 0.4), ("sift_s", 1, "mcq", "k", "b", 1.0)]
    )
    row = only(T.build_table(scores, SPEC3, ["sift_s"]), "sift_s", "mcq")
    assert row.method == T.T_INTERVAL and row.n_seeds == 2 and row.n_items == 2
    assert row.mean == pytest.approx(60.0)
    assert row.low == pytest.approx(60.0 - 127.062047, abs=1e-4)
    assert row.high == pytest.approx(60.0 + 127.062047, abs=1e-4)


def test_three_seeds_t_interval_by_hand():
    scores = scores_frame([("tsit_s", s, "sqa", "qa", "x", v) for s, v in enumerate([0.2, 0.4, 0.6])])
    row = only(T.build_table(scores, SPEC3, ["tsit_s"]), "tsit_s", "sqa")
    # sd 0.2, se 0.11547, t(0.975, 2) = 4.302653 -> 0.4 +- 0.496827
    assert (row.mean, row.low, row.high) == pytest.approx((40.0, -9.6827, 89.6827), abs=1e-3)


def test_one_seed_gives_a_bootstrap_interval_over_items():
    # items scoring 0 and 1: resampled means are 0, 0.5 or 1 (1/4, 1/2, 1/4): the 95% interval is [0, 1]
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 0.0), ("sift_s", 0, "mcq", "k", "b", 1.0)])
    row = only(T.build_table(scores, SPEC3, ["sift_s"]), "sift_s", "mcq")
    assert row.method == T.BOOTSTRAP and row.n_seeds == 1
    assert (row.mean, row.low, row.high) == (50.0, 0.0, 100.0)


def test_every_answer_unparseable_scores_zero_with_a_zero_width_interval():
    scores = scores_frame([("sit_s", 0, "ifeval", "rules", f"i{k}", 0.0) for k in range(5)])
    row = only(T.build_table(scores, SPEC3, ["sit_s"]), "sit_s", "ifeval")
    assert (row.mean, row.low, row.high, row.n_items) == (0.0, 0.0, 0.0, 5)


def test_nan_scores_are_left_out_and_counted():
    scores = scores_frame(
        [("sift_s", 0, "sqa", "qa", "a", 1.0), ("sift_s", 0, "sqa", "qa", "b", np.nan)]
        + [("sift_s", 0, "sqa", "qa", "c", 0.0)]
    )
    row = only(T.build_table(scores, SPEC3, ["sift_s"]), "sift_s", "sqa")
    assert (row.mean, row.n_items, row.n_missing) == (50.0, 2, 1)


def test_overall_is_the_mean_of_task_means_not_of_pooled_items():
    scores = scores_frame(
        [("sift_s", 0, "mcq", "k", f"m{k}", 1.0) for k in range(4)] + [("sift_s", 0, "ifeval", "r", "i", 0.0)]
    )
    row = only(T.build_table(scores, SPEC3, ["sift_s"]), "sift_s", "overall")
    assert row.mean == 50.0  # pooling the five items would give 80


def test_overall_is_nan_when_a_task_has_no_value():
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 1.0), ("sift_s", 0, "sqa", "qa", "b", np.nan)])
    table = T.build_table(scores, SPEC3, ["sift_s"])
    assert math.isnan(only(table, "sift_s", "overall").mean)
    assert math.isnan(only(table, "sift_s", "sqa").mean)
    assert only(table, "sift_s", "mcq").mean == 100.0


def test_a_system_not_run_gets_a_row_of_nan_marked_not_run():
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 1.0)])
    table = T.build_table(scores, SPEC3, ["sift_s"])
    missing = table[table["system"] == "tsit_s"]
    assert len(missing) == 2 and missing["mean"].isna().all() and (missing["note"] == "not run").all()
    md = T.table_markdown(table, SPEC3, "quick")
    assert "not run" in md and "n/a" in md and "100.0 [100.0, 100.0]" in md


def test_a_system_missing_a_seed_uses_the_seeds_it_has():
    scores = scores_frame(
        [("sift_s", s, "mcq", "k", "a", v) for s, v in [(0, 1.0), (1, 0.0)]]
        + [("sit_s", 0, "mcq", "k", "a", 1.0)]
    )
    table = T.build_table(scores, SPEC3, ["sift_s", "sit_s"])
    assert only(table, "sift_s", "mcq").method == T.T_INTERVAL
    sit = only(table, "sit_s", "mcq")
    assert (sit.method, sit.n_seeds, sit.mean) == (T.BOOTSTRAP, 1, 100.0)


def test_paralinguistic_columns_are_the_subsets_and_their_average():
    spec5 = next(s for s in T.TABLES if s.number == 5)
    scores = scores_frame(
        [
            ("text", 0, "paralinguistic", "gender", "g1", 1.0),
            ("text", 0, "paralinguistic", "gender", "g2", 0.0),
        ]
        + [("text", 0, "paralinguistic", "prosody", "p1", 0.0), ("text", 0, "mcq", "k", "m", 1.0)]
    )
    table = T.build_table(scores, spec5, ["text"])
    assert list(dict.fromkeys(table["column"])) == ["mcq", "overall", "gender", "prosody", "average"]
    assert only(table, "text", "average").mean == 25.0


def test_write_tables_writes_csv_and_markdown_per_table(tmp_path):
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 1.0)])
    tables = T.build_tables(scores, ["sift_s"])
    paths = T.write_tables(tables, tmp_path, "quick")
    assert sorted(p.name for p in paths) == sorted(
        f"azeros_table{n}.{ext}" for n in range(3, 8) for ext in ("csv", "md")
    )
    back = pd.read_csv(tmp_path / "azeros_table3.csv")
    assert only(back, "sift_s", "mcq").mean == 100.0
    # the output check refuses a column blank in every row: Table 3 has no row groups, its section is itself
    assert set(back["section"]) == {T.TABLES[0].title}
    check_delimited(tmp_path / "azeros_table3.csv", ",")
    assert T.metrics(tables)["table3"] == {"sift_s": {"semantic/mcq": 100.0, "semantic/overall": 100.0}}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=12),
    st.integers(0, 2**31 - 1),
)
def test_bootstrap_interval_lies_within_the_item_range_and_holds_the_mean(values, seed):
    a = np.array(values)
    mean, low, high = T.bootstrap_interval([a], 0.95, 200, seed)
    assert mean == pytest.approx(a.mean())
    assert a.min() - 1e-12 <= low <= high <= a.max() + 1e-12
    assert T.bootstrap_interval([a], 0.95, 200, seed) == (mean, low, high)  # deterministic for a seed


def test_t_interval_needs_two_values():
    with pytest.raises(ValueError, match="at least two"):
        T.t_interval([0.5], 0.95)


def test_unknown_column_group_is_refused():
    with pytest.raises(ValueError, match="unknown column group"):
        T.columns_for(scores_frame([]), "chat")


def test_long_form_and_split_tables_round_trip():
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 1.0), ("text", 0, "sqa", "qa", "b", 0.0)])
    tables = T.build_tables(scores, ["sift_s", "text"])
    frame = T.long_form(tables)
    assert sorted(frame["table"].unique()) == [3, 4, 5, 6, 7]
    back = T.split_tables(frame)
    assert back.keys() == tables.keys()
    pd.testing.assert_frame_equal(back[3], tables[3])


# ---- the paper's tables (issue 20, item 1) ----


def test_the_tables_are_the_papers_numbered_and_with_its_rows():
    rows = {spec.number: spec.systems for spec in T.TABLES}
    assert rows == {
        3: ("tsit_s", "sit_s", "sift_s"),
        4: ("sift_s", "sit_sp", "sift_sp", "sift_s+sift_sp"),
        5: ("text", "cascade", "untrained", "sift_s+sift_sp"),
        6: ("sift_s+sift_sp", "one-stage", "single-encoder"),
        7: ("sift_sp", "sift_ssp", "sift_ssp+sit_ssp"),
    }
    groups = {spec.number: spec.groups for spec in T.TABLES}
    assert groups[3] == ("semantic", "ifeval") and all(
        groups[n] == ("semantic", "paralinguistic", "ifeval") for n in (4, 5, 6, 7)
    )
    spec6 = next(s for s in T.TABLES if s.number == 6)
    assert [(r.section, r.label) for r in spec6.rows][1:] == [
        ("1 stage", "dual encoder"), ("1 stage", "single Whisper encoder"),
    ]  # fmt: skip


def test_every_table_row_is_a_variant_of_the_params_or_a_baseline():
    from pathlib import Path

    from speechalign.evaluate.systems import BASELINES
    from speechalign.params import load_params

    variants = load_params(Path(__file__).resolve().parents[2])["train"]["variants"]
    assert {s for spec in T.TABLES for s in spec.systems} <= set(variants) | set(BASELINES)


def test_markdown_shows_the_papers_row_names_and_groups():
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 1.0)])
    spec4 = next(s for s in T.TABLES if s.number == 4)
    md = T.table_markdown(T.build_table(scores, spec4, ["sift_s"]), spec4, "quick")
    assert md.startswith("# Table 4: Multi-stage training")
    assert "| Stage 1: semantic-only " in md and "| SIFT_s + SIFT_sp " in md


# ---- VoiceBench and AIR-Bench columns as the paper has them (issue 20, item 4) ----


def suite_frame(rows):
    """rows: (system, suite, task, subset, item, score); one seed."""
    return pd.DataFrame(
        [(sy, 0, su, t, sb, i, sc) for sy, su, t, sb, i, sc in rows],
        columns=["system", "seed", "suite", "task", "subset", "item", "score"],
    )


VOICEBENCH_TASKS = {"alpacaeval": "agreement", "commoneval": "agreement", "wildvoice": "agreement",
                    "sd-qa": "sqa", "bbh": "bbh", "advbench": "refusal", "ifeval": "ifeval",
                    "openbookqa": "mcq", "mmsu": "mcq"}  # fmt: skip
# The paper's Table 3, TSIT_s: the GPT-judged three on 1-5 (x20 in Overall), the rest in %; Overall 22.26
TSIT_ROW = {"alpacaeval": 1.12 * 20, "commoneval": 1.34 * 20, "wildvoice": 1.10 * 20, "sd-qa": 4.52,
            "bbh": 47.80, "advbench": 3.46, "ifeval": 24.13, "openbookqa": 24.62, "mmsu": 24.59}  # fmt: skip


def voicebench_rows(values):
    return [
        ("tsit_s", "voicebench", VOICEBENCH_TASKS[s], f"voicebench/{s}", f"v-{s}", v / 100)
        for s, v in values.items()
    ]


def test_voicebench_has_one_column_per_subset_in_the_papers_order_and_its_overall():
    scores = suite_frame(voicebench_rows(TSIT_ROW))
    table = T.build_table(scores, SPEC3, ["tsit_s"], resamples=50)
    assert list(table.loc[table["system"] == "tsit_s", "column"]) == [*T.VOICEBENCH_SUBSETS, "overall"]
    assert only(table, "tsit_s", "overall").mean == pytest.approx(22.26, abs=0.005)  # the paper's number
    assert only(table, "tsit_s", "mmsu").mean == pytest.approx(24.59)


def test_voicebench_pooled_task_view_is_kept_apart_from_the_papers_columns():
    # mcq pools openbookqa (1, 1, 1) and mmsu (0): per subset 100 and 0, overall of the two 50; pooled mcq 75
    rows = [("s", "voicebench", "mcq", "voicebench/openbookqa", f"o{k}", 1.0) for k in range(3)]
    rows += [
        ("s", "voicebench", "mcq", "voicebench/mmsu", "m", 0.0),
        ("s", "bench", "mcq", "arith", "b", 1.0),
    ]
    scores = suite_frame(rows)
    assert [c.name for c in T.columns_for(scores, "semantic")] == [
        "voicebench/openbookqa", "voicebench/mmsu", "voicebench/overall (2/9)", "bench/mcq", "bench/overall",
    ]  # fmt: skip
    assert [c.name for c in T.columns_for(scores, "pooled")] == ["voicebench/mcq", "voicebench/overall"]
    got = {r.column: r.mean for r in T.every_system(scores, resamples=50).itertuples()}
    assert got["voicebench/overall (2/9)"] == 50.0 and got["voicebench/mcq"] == 75.0
    assert all("pooled" not in spec.groups for spec in T.TABLES)  # not in the paper's tables


# The paper's Table 4, SIFT_s + SIFT_sp: AIR-Bench (speech) Gender .. Intent and Avg 77.25.
FINAL_AIRBENCH = {"Speaker_Gender_Recognition": 86.75, "Speaker_Emotion_Recontion": 71.45,
                  "Speaker_Age_Prediction": 61.30, "Spoken_Language_Identification": 84.80,
                  "Speech_Entity_Reconition": 73.60, "Speaker_Intent_Classification": 85.60}  # fmt: skip


def test_airbench_average_is_over_the_papers_six_tasks_only():
    rows = [("f", "airbench", "mcq", f"airbench/{t}", t, v / 100) for t, v in FINAL_AIRBENCH.items()]
    rows += [("f", "airbench", "mcq", "airbench/Speech_Grounding", "g", 0.0)]  # loaded, outside the average
    table = T.every_system(suite_frame(rows), resamples=50)
    assert list(table["column"]) == ["gender", "emotion", "age", "lid", "entity", "intent", "average",
                                     "Speech_Grounding"]  # fmt: skip
    assert only(table, "f", "average").mean == pytest.approx(77.25)  # the paper's Avg; with grounding: 66.21
    partial = suite_frame(rows[:2] + rows[-1:])
    names = [c.name for c in T.columns_for(partial, "paralinguistic")]
    assert names == ["gender", "emotion", "average (2/6)", "Speech_Grounding"]


# ---- IFEval's four numbers, the reference's way (issue 22, item 5) ----

NO_COMMA, QUOTED, TITLE = (
    {"id": "punctuation:no_comma"},
    {"id": "startend:quotation"},
    {"id": "detectable_format:title"},
)


def ifeval_items():
    from speechalign.metrics.bench.items import BenchItem

    return [
        BenchItem("i1", "ifeval", "rules", None, "Quote a title.", rules=(NO_COMMA, QUOTED, TITLE)),
        BenchItem("i2", "ifeval", "rules", None, "No commas.", rules=(NO_COMMA,)),
    ]


def ifeval_scores(answers):
    """The scores of ``answers`` to ``ifeval_items`` with their IFEval counts, as the stage makes them."""
    from speechalign.evaluate.answer_scores import score_answers

    items = ifeval_items()
    return T.with_ifeval_counts(score_answers(items, answers), T.ifeval_counts(items, answers))


def test_ifeval_group_gives_the_four_reference_numbers_and_their_mean_by_hand():
    from speechalign.evaluate.systems import Answer

    answers = [
        Answer("sift_s", 0, "i1", "ifeval", "rules", '"no commas <<t>>"'),  # 3 of 3, strict and loose
        Answer("sift_s", 0, "i2", "ifeval", "rules", "Sure, here:\nno commas"),  # 0 of 1 strict, 1 of 1 loose
    ]
    table = T.build_table(ifeval_scores(answers), SPEC3, ["sift_s"], resamples=200)
    got = {r.column: r.mean for r in table[table["group"] == "ifeval"].itertuples()}
    # prompt strict 1/2, prompt loose 2/2; instruction strict 3/4 (a mean of per-prompt shares says 1/2),
    # instruction loose 4/4; VoiceBench's number, the mean of the four: (50 + 100 + 75 + 100) / 4
    assert got == pytest.approx(
        {"prompt_strict": 50.0, "prompt_loose": 100.0, "instruction_strict": 75.0, "instruction_loose": 100.0,
         "average": 81.25}
    )  # fmt: skip
    assert only(table, "sift_s", "ifeval").mean == 50.0  # the semantic column: the headline, prompt strict
    assert only(table, "sift_s", "instruction_strict").method == T.BOOTSTRAP
    md = T.table_markdown(table, SPEC3, "quick")
    assert "ifeval: instruction_strict" in md and "75.0 [" in md


def test_ifeval_instruction_level_over_seeds_is_a_t_interval_of_the_seed_ratios():
    from speechalign.evaluate.systems import Answer

    answers = [
        Answer("sift_s", 0, "i1", "ifeval", "rules", '"no commas <<t>>"'),  # seed 0: 3 + 0 of 4
        Answer("sift_s", 0, "i2", "ifeval", "rules", "a, b"),
        Answer("sift_s", 1, "i1", "ifeval", "rules", "a, b"),  # seed 1: 0 + 1 of 4
        Answer("sift_s", 1, "i2", "ifeval", "rules", "a b"),
    ]
    row = only(T.build_table(ifeval_scores(answers), SPEC3, ["sift_s"]), "sift_s", "instruction_strict")
    mean, low, high = T.t_interval([0.75, 0.25], 0.95)
    assert row.method == T.T_INTERVAL and (row.mean, row.low, row.high) == pytest.approx(
        (mean * 100, low * 100, high * 100)
    )


def test_ifeval_counts_score_an_unanswered_item_as_following_nothing_and_skip_a_not_applicable_one():
    from speechalign.evaluate.systems import Answer

    answers = [
        Answer("cascade", 0, "i1", "ifeval", "rules", "", reason="the ASR recognised no words"),
        Answer("text", 0, "i2", "ifeval", "rules", "", applicable=False, reason="no transcript"),
    ]
    counts = T.ifeval_counts(ifeval_items(), answers)
    assert counts[["system", "instructions", "followed_strict", "prompt_loose"]].values.tolist() == [
        ["cascade", 3.0, 0.0, 0.0]
    ]
    scores = ifeval_scores(answers)
    spec5 = next(s for s in T.TABLES if s.number == 5)
    table = T.build_table(scores, spec5, ["cascade", "text"])
    assert only(table, "cascade", "instruction_loose").mean == 0.0
    assert only(table, "text", "instruction_loose").method == T.NOT_APPLICABLE


def test_without_ifeval_counts_there_is_no_ifeval_group_and_no_empty_column():
    scores = scores_frame([("sift_s", 0, "mcq", "k", "a", 1.0)])
    assert T.columns_for(scores, "ifeval") == []
    same = T.with_ifeval_counts(scores, T.ifeval_counts([], []))
    pd.testing.assert_frame_equal(same, scores)  # the output check refuses a column missing in every row
