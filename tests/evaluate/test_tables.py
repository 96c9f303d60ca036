"""AZEROS tables: cell values, intervals over seeds and items, missing systems and seeds, NaN scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.evaluate import tables as T


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
        [("text", 0, "sqa", "qa", "a", 1.0), ("text", 0, "sqa", "qa", "b", np.nan)]
        + [("text", 0, "sqa", "qa", "c", 0.0)]
    )
    row = only(T.build_table(scores, SPEC3, ["text"]), "text", "sqa")
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
    spec7 = next(s for s in T.TABLES if s.number == 7)
    scores = scores_frame(
        [
            ("text", 0, "paralinguistic", "gender", "g1", 1.0),
            ("text", 0, "paralinguistic", "gender", "g2", 0.0),
        ]
        + [("text", 0, "paralinguistic", "prosody", "p1", 0.0), ("text", 0, "mcq", "k", "m", 1.0)]
    )
    table = T.build_table(scores, spec7, ["text"])
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
