"""The findings table: every claim of the papers in order, each read on its own comparisons (its behaviour
metrics, its score tasks, the ALAS layer trend on semantic QA); a row for a claim not run."""

from __future__ import annotations

import math

import pandas as pd

from speechalign.report.findings import CLAIMS, NO_PAIRS, NOT_RUN, findings_table


def comparison(better, worse, metric, difference, low, high, task=None, verdict="holds"):
    return {"claim": "x", "better": better, "worse": worse, "metric": metric, "higher_is_better": False,
            "difference": difference, "low": low, "high": high, "p_value": 0.02, "n_seeds": 3, "n_items": 40,
            "confidence": 0.95, "verdict": verdict, "paper": "", "task": task}  # fmt: skip


def trend(model, corpus, normalisation, difference):
    return {"model": model, "corpus": corpus, "normalisation": normalisation, "early_layers": "1-7",
            "late_layers": "24-30", "early": 5.0, "late": 5.0 + difference, "late_minus_early": difference,
            "low": difference - 1, "high": difference + 1, "p_value": 0.5, "utterances": 24,
            "verdict": "not resolved"}  # fmt: skip


def test_each_claim_reads_its_own_comparisons_and_a_claim_not_run_keeps_its_row():
    comparisons = pd.DataFrame(
        [
            comparison("sit_s", "tsit_s", "nll", -0.0716, -0.1294, -0.0041),
            comparison("sit_s", "tsit_s", "score", 0.1, 0.0, 0.2, task="overall"),
            comparison(
                "sit_s", "tsit_s", "score", 0.3, 0.1, 0.5, task="sqa"
            ),  # a per-task row: not a finding
            comparison("sift_s", "tsit_s", "repeats", -0.5, -0.7, -0.3),
            comparison("sift_s", "tsit_s", "nll", -0.2, -0.3, -0.1),
            # ran, but no item that both systems scored (the quick suite: text has no agreement score)
            comparison("text", "sift_s+sift_sp", "score", math.nan, None, None, "overall", "not resolved"),
        ]
    )
    sift = "composed-sift_s"
    layers = pd.DataFrame([trend(sift, "sqa", "cosine", -2.0), trend(sift, "paralinguistic", "cosine", 9.0)])
    table = findings_table(comparisons, layers)
    assert list(dict.fromkeys(table["claim"])) == [c.claim for c in CLAIMS]  # every claim, in order
    sit = table[table["claim"] == CLAIMS[0].claim]
    assert sit["evidence"].tolist() == ["nll: sit_s - tsit_s", "score (overall): sit_s - tsit_s"]
    assert sit["ours"].iloc[0] == "-0.072 [-0.129, -0.004]" and sit["seeds x items"].iloc[0] == "3 x 40"
    assert sit["paper"].iloc[0] == "57.89 vs 22.26, VoiceBench overall"
    collapse = table[table["claim"].str.contains("repeating")]
    assert collapse["evidence"].tolist() == [
        "repeats: sift_s - tsit_s"
    ]  # the NLL row belongs to another claim
    sift_tsit = table[table["claim"].str.startswith("SIFT beats TSIT")]
    assert sift_tsit["evidence"].tolist() == ["nll: sift_s - tsit_s"]
    upper = table[table["claim"].str.startswith("text is the upper bound")]
    assert upper["ours"].tolist() == [NO_PAIRS] and upper["verdict"].tolist() == ["not resolved"]
    assert NO_PAIRS not in set(table.loc[table["verdict"] == NOT_RUN, "ours"])  # a claim not run says so
    two_stages = table[table["claim"].str.startswith("two stages")]
    assert two_stages["verdict"].tolist() == [NOT_RUN] and math.isnan(two_stages["p"].iloc[0])
    alas = table[table["claim"].str.contains("ALAS")]
    assert alas["evidence"].tolist() == ["ALAS layers 24-30 - 1-7, composed-sift_s, cosine"]  # sqa only
    assert alas["ours"].iloc[0] == "-2.000 [-3.000, -1.000]"


def test_no_comparisons_at_all_gives_one_not_run_row_per_claim():
    table = findings_table(
        pd.DataFrame([comparison("a", "b", "nll", 0, 0, 0)]), pd.DataFrame([trend("m", "x", "c", 0)])
    )
    assert len(table) == len(CLAIMS) and set(table["verdict"]) == {NOT_RUN}
    assert (
        findings_table(pd.DataFrame([comparison("a", "b", "nll", 0, 0, 0)]), None)["verdict"].iloc[-1]
        == NOT_RUN
    )
