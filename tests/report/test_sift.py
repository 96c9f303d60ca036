"""The SIFT report functions on hand-made stage outputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from speechalign.report.sift import (
    curves_figure,
    qa_table,
    read_curves,
    read_targets,
    target_examples,
    target_statistics,
)


def write_targets(path, mode, items):
    rows = [{"id": f"s{i}", "mode": mode, "split": split, "new_tokens": n, "truncated": cut, "system": "S",
             "writer_system": "W", "instruction": None, "writer_input": f"in {i}", "target": f"out {i}"}
            for i, (split, n, cut) in enumerate(items)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_target_statistics_and_examples(tmp_path):
    a = write_targets(
        tmp_path / "sift_s.jsonl", "sift_s", [("train", 10, False), ("train", 32, True), ("test", 4, False)]
    )
    b = write_targets(tmp_path / "tsit_s.jsonl", "tsit_s", [("test", 3, False), ("train", 5, False)])
    targets = read_targets([a, b])
    stats = target_statistics(targets)
    assert stats.to_dict("records") == [
        {"mode": "sift_s", "items": 3, "mean_new_tokens": pytest.approx(46 / 3),
         "truncated_share": pytest.approx(1 / 3)},
        {"mode": "tsit_s", "items": 2, "mean_new_tokens": 4.0, "truncated_share": 0.0},
    ]  # fmt: skip
    examples = target_examples(targets, per_mode=1)
    assert examples[["mode", "id"]].values.tolist() == [
        ["sift_s", "s0"],
        ["tsit_s", "s1"],
    ]  # train items only


def test_curves_and_qa_table(tmp_path):
    runs = (("sift_s", 0, [2.0, 1.5]), ("sift_s", 1, [2.0, 1.7]), ("tsit_s", 0, [2.0, 1.8]))
    for variant, seed, losses in runs:
        (tmp_path / variant / f"seed{seed}").mkdir(parents=True)
        (tmp_path / variant / f"seed{seed}" / "curve.tsv").write_text(
            f"step\ttrain_loss\tval_loss\n0\t\t{losses[0]}\n5\t1.9\t\n10\t1.7\t{losses[1]}\n"
        )
    curves = read_curves([tmp_path / v / f"seed{s}" for v, s, _ in runs])
    assert curves.groupby(["variant", "seed"])["val_loss"].count().to_dict() == {
        ("sift_s", 0): 2, ("sift_s", 1): 2, ("tsit_s", 0): 2
    }  # fmt: skip
    fig = curves_figure(curves)
    lines = fig.axes[0].lines
    assert [len(line.get_xdata()) for line in lines] == [2, 2]  # steps without val_loss skipped
    assert list(lines[0].get_ydata()) == [2.0, pytest.approx(1.6)]  # sift_s: the mean over its two seeds
    (tmp_path / "qa" / "sift_s").mkdir(parents=True)
    paired = {"control": "c.json", "items": 4, "token_f1": {"difference": 0.25, "low": 0.0, "high": 0.5}}
    (tmp_path / "qa" / "sift_s" / "seed1.json").write_text(
        json.dumps({"items": 4, "contains_answer": 0.5, "rows": [{}], "vs_untrained": paired})
    )
    table = qa_table([tmp_path / "qa" / "sift_s" / "seed1.json"])
    assert table.to_dict("records") == [
        {"system": "sift_s", "seed": 1, "items": 4, "contains_answer": 0.5, "token_f1_vs_untrained": 0.25,
         "token_f1_vs_untrained_low": 0.0, "token_f1_vs_untrained_high": 0.5}
    ]  # fmt: skip
    assert isinstance(table, pd.DataFrame)
