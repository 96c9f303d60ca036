"""Evaluation report: the notebook renders Tables 3-7, the per-task figure and the ALAS-vs-benchmark figure
from the evaluate stage's files (synthetic ones here), and each output exists and is not trivial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from speechalign.evaluate import behaviour as B
from speechalign.evaluate import tables as T
from speechalign.io import write_json, write_text
from speechalign.report import benchmarks as R

ROOT = Path(__file__).resolve().parents[2]


def synthetic_scores() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for system, seeds in [
        ("tsit_s", [0, 1]),
        ("sit_s", [0, 1]),
        ("sift_s", [0, 1]),
        ("text", [0]),
        ("cascade", [0]),
    ]:
        for seed in seeds:
            for task, subset in [("mcq", "arithmetic"), ("sqa", "passages"), ("paralinguistic", "gender")]:
                for k in range(4):
                    rows.append(
                        (system, seed, task, subset, f"{task}{k}", float(rng.integers(0, 2)), True, "")
                    )
    return pd.DataFrame(
        rows, columns=["system", "seed", "task", "subset", "item", "score", "parsed", "reason"]
    )


def alas_summary(path: Path, offset: float) -> None:
    layers = [
        {"layer": k, "utterances": 3, "alas_tokens": offset + k / 10, "alas_tokens_ci": [offset, offset + 1],
         "alas_tokens_mean": offset + k / 10, "uniform_tokens": 0.9, "calibrated_tokens": 1.0,
         "alas_words": 1.0,
         "calibrated_words": 1.0, "hub_share": 0.2, "k_skewness": 1.0}
        for k in range(4)
    ]  # fmt: skip
    subsets = {"all": {"layers": layers}}  # the alas stage's summary: headline, and per normalisation
    write_json(path, {"normalisation": "cosine", **subsets, "by_normalisation": {"cosine": subsets}})


def behaviour_rows_fixture() -> pd.DataFrame:
    """Per-answer behaviour rows (``speechalign.evaluate.behaviour.ROW_COLUMNS``) of four systems, 2 seeds x 4
    items, the text run best and the untrained projector worst."""
    rng = np.random.default_rng(0)
    rows = []
    for rank, system in enumerate(["text", "sift_s", "tsit_s", "untrained"]):
        for seed in (0, 1):
            for i in range(4):
                nll = 1.0 + rank + rng.normal(0, 0.1)
                agree = np.nan if system == "text" else 0.8 - 0.2 * rank
                rows.append({"system": system, "seed": seed, "task": "sqa", "item": f"i{i}", "nll": nll,
                             "nll_mismatched": nll + 1, "agreement": agree,
                             "agreement_mismatched": agree - 0.1, "agreement_gain": 0.1,
                             "repeats": 0.0})  # fmt: skip
    return pd.DataFrame(rows, columns=B.ROW_COLUMNS)


def test_the_notebook_writes_every_table_and_figure(tmp_path):
    from speechalign.report.notebooks import execute

    scores = synthetic_scores()
    scores.to_parquet(tmp_path / "scores.parquet", index=False)
    systems_run = sorted(scores["system"].unique())
    write_text(
        tmp_path / "tables.csv", T.long_form(T.build_tables(scores, systems_run, resamples=200)).to_csv()
    )
    write_text(tmp_path / "systems.csv", T.every_system(scores, resamples=200).to_csv(index=False))
    write_json(tmp_path / "metrics.json", {"asr": {"cascade/seed0": {"errors": 3, "words": 30, "wer": 0.1}}})
    alas_summary(tmp_path / "tsit.json", 5.0)
    alas_summary(tmp_path / "sift.json", 2.0)
    rows = behaviour_rows_fixture()
    B.summarise(rows, 0.95, 100, 0).to_csv(tmp_path / "behaviour.csv", index=False)
    B.compare(rows, 0.95, 100, 0).to_csv(tmp_path / "comparisons.csv", index=False)
    trend = {"model": "composed-sift_s", "corpus": "sqa", "normalisation": "cosine", "early_layers": "1-7",
             "late_layers": "24-30", "late_minus_early": -1.0, "low": -1.5, "high": -0.5, "p_value": 0.01,
             "utterances": 24, "verdict": "holds"}  # fmt: skip
    pd.DataFrame([trend]).to_csv(tmp_path / "layer_trend.csv", index=False)
    out = tmp_path / "out"
    execute(
        ROOT / "notebooks" / "evaluate.ipynb",
        out / "evaluate.ipynb",
        {
            "scores": str(tmp_path / "scores.parquet"),
            "azeros_tables": str(tmp_path / "tables.csv"),
            "systems": str(tmp_path / "systems.csv"),
            "metrics": str(tmp_path / "metrics.json"),
            "alas": {"tsit_s": str(tmp_path / "tsit.json"), "sift_s": str(tmp_path / "sift.json")},
            "layer_trend": str(tmp_path / "layer_trend.csv"),
            "tables": str(out / "tables"),
            "figures": str(out / "figures"),
            "profile": "test",
        },
    )
    for n in range(3, 8):
        md = (out / "tables" / f"azeros_table{n}.md").read_text()
        assert md.startswith(f"# Table {n}:") and "Profile test" in md
        assert len(pd.read_csv(out / "tables" / f"azeros_table{n}.csv")) > 0
    assert "t over seeds" in (out / "tables" / "azeros_table3.md").read_text()
    assert "not run" in (out / "tables" / "azeros_table5.md").read_text()  # untrained was not run here
    for name in ("evaluate_scores", "alas_vs_benchmark"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 5000
    findings = pd.read_csv(out / "tables" / "findings.csv")
    assert findings["verdict"].iloc[-1] == "holds" and "composed-sift_s" in findings["evidence"].iloc[-1]
    wer = pd.read_csv(out / "tables" / "evaluate_cascade_wer.csv")
    assert wer["wer"].tolist() == [0.1]


def test_alas_vs_benchmark_names_variants_without_alas():
    cells = T.every_system(synthetic_scores(), resamples=100)
    fig = R.alas_vs_benchmark_figure(pd.DataFrame(), cells)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["no ALAS results for\ntsit_s, sit_s, sift_s"]
    bars = [p for p in fig.axes[1].patches]
    assert len(bars) == 3 * 3  # three variants x (mcq, sqa, overall)


def test_scores_figure_has_a_panel_per_column():
    cells = T.every_system(synthetic_scores(), resamples=100)
    fig = R.scores_figure(cells)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["mcq\n(semantic)", "sqa\n(semantic)", "overall\n(semantic)", "gender\n(paralinguistic)",
                      "average\n(paralinguistic)"]  # fmt: skip


def test_the_cascade_wer_table_says_when_no_cascade_ran(tmp_path):
    """A profile without the cascade baseline still writes a table the output check accepts, saying why it
    is empty; with one, a row per recogniser run."""
    from speechalign.report.check import check_output

    metrics = tmp_path / "metrics.json"
    write_json(metrics, {"asr": {}})
    table = R.asr_table(metrics)
    assert table.to_dict("records") == [{"run": "cascade", "note": "not run in this profile"}]
    table.to_csv(tmp_path / "wer.csv", index=False)
    assert check_output(tmp_path / "wer.csv").problem is None
    write_json(metrics, {"asr": {"bench": {"wer": 0.125, "words": 8}}})
    (row,) = R.asr_table(metrics).to_dict("records")
    assert row == {"run": "bench", "wer": 0.125, "words": 8, "note": "run"}
