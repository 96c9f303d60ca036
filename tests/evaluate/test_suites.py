"""Several benchmark suites (params evaluate.suites): their items read together with ids unique across suites,
items without a transcript recorded as not applicable for the text system (never a 0, never a lost row),
one set of columns per suite in the tables, and the score CLI and the evaluate notebook on fixture suites in
the published layouts (VoiceBench, AIR-Bench foundation; tests/support/benchmark_layouts.py) beside a bench
suite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speechalign.backends import Run
from speechalign.data.bench.loaders import load_benchmark
from speechalign.evaluate import systems as S
from speechalign.evaluate import tables as T
from speechalign.evaluate.answer_scores import SCORE_COLUMNS, asr_summary, score_answers
from speechalign.metrics.bench.items import BenchItem, ItemError, read_suites, write_items

ROOT = Path(__file__).resolve().parents[2]
LOAD = {"sample_rate": 16000, "max_duration": 30.0, "airbench_tasks": ["Speaker_Gender_Recognition",
        "Speaker_Emotion_Recontion", "Speech_Grounding"]}  # fmt: skip


class EchoBackend:
    """Answers say what the model was given; records every transcript a text run read."""

    sample_rate = 16000

    def __init__(self):
        self.read: list[str] = []

    def audio_run(self, wave, task):
        return Run("audio", (0, 1), 1, payload={"say": f"heard audio; {task}"})

    def text_run(self, transcript, task):
        self.read.append(transcript)
        return Run("text", (0, 1), 1, payload={"say": f"read {transcript}; {task}"})

    def generate(self, runs, max_new_tokens, batch_size=8):
        return [r.payload["say"] for r in runs]


def bench_suite(folder: Path) -> Path:
    """A two-item suite in the embedded suite's format (data/corpora/bench/items.jsonl)."""
    folder.mkdir(parents=True)
    sf.write(folder / "m1.flac", np.zeros(16000, dtype=np.float32), 16000)
    audio = str(folder / "m1.flac")
    mcq = BenchItem("bench-mcq-1", "mcq", "arithmetic", audio, "Two plus two? A four B five",
                    "Answer A or B.", ("A",), ("four", "five"))  # fmt: skip
    gender = BenchItem("bench-gender-1", "paralinguistic", "gender", audio, "Hello there.",
                       "Male or female? A male B female", ("B",), ("male", "female"))  # fmt: skip
    write_items(folder / "items.jsonl", [mcq, gender])
    return folder / "items.jsonl"


@pytest.fixture
def suites(tmp_path, voicebench, airbench) -> list[Path]:
    """bench, voicebench, airbench items files in tmp_path/corpora/<suite>/, as the data stage lays them."""
    corpora = tmp_path / "corpora"
    load_benchmark("voicebench", voicebench, corpora / "voicebench", LOAD)
    load_benchmark("airbench", airbench, corpora / "airbench", LOAD)
    return [
        bench_suite(corpora / "bench"),
        corpora / "voicebench" / "items.jsonl",
        corpora / "airbench" / "items.jsonl",
    ]


# ---- items of several suites ----


def test_suites_are_read_in_order_by_folder_name(suites):
    read = read_suites(suites)
    assert list(read) == ["bench", "voicebench", "airbench"]
    assert [i.id for i in read["bench"]] == ["bench-mcq-1", "bench-gender-1"]
    assert sorted(i.id for i in read["airbench"]) == ["airbench-1", "airbench-2", "airbench-3"]
    assert len(read["voicebench"]) == 6


def test_an_id_in_two_suites_is_refused_naming_it_and_both_files(suites, tmp_path):
    other = tmp_path / "corpora" / "mine" / "items.jsonl"
    other.parent.mkdir()
    other.write_text(suites[0].read_text().splitlines()[1] + "\n")  # bench-gender-1 again
    with pytest.raises(ItemError, match=r"'bench-gender-1' is in both .*bench/items.jsonl and .*mine/items"):
        read_suites([suites[0], other])
    with pytest.raises(ItemError, match="two items files of suite 'bench'"):
        read_suites([suites[0], suites[0]])


# ---- answering: text cannot take an item without a transcript; the cascade can ----


def test_text_records_items_without_transcript_as_not_applicable(suites):
    items = [i for suite in read_suites(suites).values() for i in suite]
    backend = EchoBackend()
    answers = S.answer_items(S.SystemRun("text", 0), items, backend, batch_size=2)
    assert len(answers) == len(items) == 11  # nothing vanishes
    skipped = {a.item: a for a in answers if not a.applicable}
    assert sorted(skipped) == ["airbench-1", "airbench-2", "airbench-3"]
    assert {(a.answer, a.reason) for a in skipped.values()} == {("", S.NO_TRANSCRIPT)}
    assert "" not in backend.read  # no text run on an empty transcript
    assert all(a.applicable and not a.reason for a in answers if a.item not in skipped)


def test_the_cascade_answers_items_without_transcript_and_counts_no_word_errors_there(suites):
    items = [i for suite in read_suites(suites).values() for i in suite]
    answers = S.answer_items(S.SystemRun("cascade", 0), items, EchoBackend(), asr=lambda wave: "two plus two")
    by_id = {a.item: a for a in answers}
    grounding = by_id["airbench-3"]
    assert grounding.applicable and not grounding.reason and grounding.asr_text == "two plus two"
    assert (grounding.asr_errors, grounding.asr_words) == (None, None)
    # bench-mcq-1 says "two plus two a four b five": 7 words, the ASR heard 3 of them: 4 deletions
    assert (by_id["bench-mcq-1"].asr_errors, by_id["bench-mcq-1"].asr_words) == (4, 7)
    summary = asr_summary(answers)["cascade/seed0"]
    assert summary["words"] == sum(a.asr_words for a in answers if a.asr_words is not None)
    assert summary["words"] > 0 and not any(a.asr_words for a in answers if a.item.startswith("airbench"))


def test_a_not_applicable_answer_is_not_scored_and_keeps_its_reason(suites):
    read = read_suites(suites)
    items = [i for suite in read.values() for i in suite]
    suite_of = {i.id: name for name, suite in read.items() for i in suite}
    answers = [
        S.Answer("text", 0, "airbench-1", "paralinguistic", "airbench/Speaker_Gender_Recognition", "",
                 reason=S.NO_TRANSCRIPT, applicable=False),
        S.Answer("text", 0, "bench-mcq-1", "mcq", "arithmetic", "The answer is A."),
        S.Answer("sift_s", 0, "airbench-1", "paralinguistic", "airbench/Speaker_Gender_Recognition", "B"),
    ]  # fmt: skip
    scores = score_answers(items, answers, suite_of=suite_of)
    assert math.isnan(scores["score"][0]) and not scores["applicable"][0] and not scores["parsed"][0]
    assert scores["reason"][0] == S.NO_TRANSCRIPT
    assert scores["suite"].tolist() == ["airbench", "bench", "airbench"]
    assert scores[["score", "applicable"]].values[1:].tolist() == [[1.0, True], [1.0, True]]


def test_answers_written_before_applicability_read_as_applicable(tmp_path):
    old = {
        "system": "text",
        "seed": 0,
        "item": "m1",
        "task": "mcq",
        "subset": "s",
        "answer": "A",
        "reason": "",
    }
    (tmp_path / "a.jsonl").write_text(json.dumps(old) + "\n")
    assert S.read_answers(tmp_path / "a.jsonl")[0].applicable


# ---- tables: one set of columns per suite; not applicable cells ----


def scores_frame(rows) -> pd.DataFrame:
    """rows: (system, suite, task, subset, item, score, applicable); one seed."""
    return pd.DataFrame(
        [(sy, 0, su, t, sb, i, sc, True, ap, "") for sy, su, t, sb, i, sc, ap in rows],
        columns=SCORE_COLUMNS,
    )


BENCH_ROWS = [
    ("text", "bench", "mcq", "arithmetic", "m1", 1.0, True),
    ("text", "bench", "mcq", "arithmetic", "m2", 0.0, True),
    ("text", "bench", "paralinguistic", "gender", "g1", 1.0, True),
    ("sift_s", "bench", "mcq", "arithmetic", "m1", 0.0, True),
    ("sift_s", "bench", "mcq", "arithmetic", "m2", 0.0, True),
    ("sift_s", "bench", "paralinguistic", "gender", "g1", 1.0, True),
]
OTHER_ROWS = [
    ("text", "voicebench", "mcq", "voicebench/mmsu", "v1", 1.0, True),
    ("sift_s", "voicebench", "mcq", "voicebench/mmsu", "v1", 0.0, True),
    ("text", "airbench", "paralinguistic", "airbench/Speaker_Gender_Recognition", "a1", math.nan, False),
    ("text", "airbench", "mcq", "airbench/Speech_Grounding", "a2", math.nan, False),
    ("sift_s", "airbench", "paralinguistic", "airbench/Speaker_Gender_Recognition", "a1", 1.0, True),
    ("sift_s", "airbench", "mcq", "airbench/Speech_Grounding", "a2", 0.0, True),
]


def cells(table: pd.DataFrame) -> dict[tuple[str, str], tuple[float, str]]:
    return {(r.system, r.column): (r.mean, r.method) for r in table.itertuples()}


def test_each_suite_has_its_own_prefixed_columns_and_airbench_is_paralinguistic_whole():
    scores = scores_frame(BENCH_ROWS + OTHER_ROWS)
    assert [c.name for c in T.columns_for(scores, "semantic")] == [
        "bench/mcq", "bench/overall", "voicebench/mmsu", "voicebench/overall (1/9)",
    ]  # fmt: skip
    assert [c.name for c in T.columns_for(scores, "pooled")] == ["voicebench/mcq", "voicebench/overall"]
    assert [c.name for c in T.columns_for(scores, "paralinguistic")] == [
        "bench/gender", "bench/average",
        "airbench/gender", "airbench/average (1/6)", "airbench/Speech_Grounding",
    ]  # fmt: skip
    got = cells(T.every_system(scores, resamples=200))
    assert got["sift_s", "airbench/average (1/6)"] == (100.0, T.BOOTSTRAP)  # grounding (0) is outside it
    assert got["text", "voicebench/overall (1/9)"][0] == 100.0
    for column in ("airbench/gender", "airbench/Speech_Grounding", "airbench/average (1/6)"):
        mean, method = got["text", column]
        assert math.isnan(mean) and method == T.NOT_APPLICABLE


def test_bench_cells_are_the_same_with_or_without_the_other_suites():
    alone = cells(T.every_system(scores_frame(BENCH_ROWS), resamples=200))
    together = cells(T.every_system(scores_frame(BENCH_ROWS + OTHER_ROWS), resamples=200))
    assert set(alone) == {(s, c) for s in ("sift_s", "text") for c in ("mcq", "overall", "gender", "average")}
    assert alone[("text", "mcq")] == (50.0, T.BOOTSTRAP)
    bench = {(s, c.removeprefix("bench/")): v for (s, c), v in together.items() if c.startswith("bench/")}
    assert alone == bench


def test_a_column_with_any_not_applicable_item_is_not_applicable_not_a_mean_of_the_rest():
    rows = [
        ("text", "mine", "mcq", "s", "m1", 1.0, True),
        ("text", "mine", "mcq", "s", "m2", math.nan, False),
    ]
    cell = T.every_system(scores_frame(rows), resamples=200).set_index("column").loc["mcq"]
    assert math.isnan(cell["mean"]) and cell["method"] == T.NOT_APPLICABLE and cell["note"] == "run"


def test_markdown_says_not_applicable_and_keeps_the_row():
    scores = scores_frame(BENCH_ROWS + OTHER_ROWS)
    tables = T.build_tables(scores, ["text", "sift_s"], resamples=200)
    spec = next(s for s in T.TABLES if s.number == 5)
    md = T.table_markdown(tables[5], spec, "test")
    text_row = next(line for line in md.splitlines() if "| text " in line)
    assert text_row.count("not applicable") == 3 and "| run " in text_row
    assert "bootstrap over items" in text_row  # the interval column is the real method, not "not applicable"
    assert "semantic/voicebench/mmsu" in T.metrics(tables)["table5"]["text"]
    assert not any("airbench" in key for key in T.metrics(tables)["table5"]["text"])


# ---- the score CLI and the notebook, on bench alone and on every suite ----


def score_and_render(files: list[Path], folder: Path) -> pd.DataFrame:
    """text and sift_s (echo backend) answer the suites' items; the score CLI writes the stage's files and the
    evaluate notebook renders them into folder/tables and folder/figures. Returns the tables' long form."""
    from speechalign.cli import main
    from speechalign.report.notebooks import execute

    items = [i for suite in read_suites(files).values() for i in suite]
    answer_files = []
    for system in ("text", "sift_s"):
        path = folder / "answers" / f"{system}.jsonl"
        S.write_answers(path, S.answer_items(S.SystemRun(system, 0), items, EchoBackend()))
        answer_files.append(str(path))
    params = {"baselines": ["text"], "asr": "faster-whisper", "max_new_tokens": 8, "confidence": 0.95,
              "bootstrap": 200, "repeat_threshold": 0.8}  # fmt: skip
    code = main([
        "evaluate", "score", "--items", *map(str, files), "--answers", *answer_files,
        "--scores", str(folder / "scores.parquet"), "--tables", str(folder / "tables.csv"),
        "--systems", str(folder / "systems.csv"), "--behaviour", str(folder / "behaviour.parquet"),
        "--behaviour-summary", str(folder / "behaviour.csv"),
        "--comparisons", str(folder / "comparisons.csv"),
        "--metrics", str(folder / "metrics.json"), "--seed", "0",
        "--evaluate-params", json.dumps(params), "--models-params", json.dumps({"sbert": "all-minilm-l6-v2"}),
    ])  # fmt: skip
    assert code == 0
    execute(
        ROOT / "notebooks" / "evaluate.ipynb",
        folder / "nb" / "evaluate.ipynb",
        {"scores": str(folder / "scores.parquet"), "azeros_tables": str(folder / "tables.csv"),
         "systems": str(folder / "systems.csv"), "metrics": str(folder / "metrics.json"), "alas": {},
         "tables": str(folder / "tables"), "figures": str(folder / "figures"), "profile": "test"},
    )  # fmt: skip
    for n in range(3, 8):
        assert (folder / "tables" / f"azeros_table{n}.md").read_text().startswith(f"# Table {n}:")
    assert (folder / "figures" / "evaluate_scores.png").stat().st_size > 0
    parsed = pd.read_csv(folder / "tables" / "evaluate_parsed.csv")
    assert parsed["items"].sum() == 2 * len(items)
    return pd.read_csv(folder / "tables.csv").fillna({"method": ""})


def test_score_cli_and_notebook_on_bench_alone_and_on_every_suite(suites, tmp_path):
    alone = score_and_render(suites[:1], tmp_path / "alone")
    every = score_and_render(suites, tmp_path / "every")
    text5 = every[(every["table"] == 5) & (every["system"] == "text")]
    assert set(text5.loc[text5["method"] == T.NOT_APPLICABLE, "column"]) == {
        "airbench/gender", "airbench/emotion", "airbench/average (2/6)", "airbench/Speech_Grounding",
        "voicebench/alpacaeval", "voicebench/overall (6/9)",  # text agrees with itself by construction
    }  # fmt: skip
    assert {"bench/mcq", "voicebench/openbookqa", "voicebench/overall (6/9)"} <= set(text5["column"])
    assert (alone["method"] != T.NOT_APPLICABLE).all()
    assert set(alone["column"]) == {"mcq", "overall", "gender", "average"}
    # bench's cells are the same numbers whether or not other suites are evaluated beside it
    key = ["table", "system", "column"]
    bench = every[every["column"].str.startswith("bench/")].assign(column=lambda f: f["column"].str[6:])
    pd.testing.assert_frame_equal(alone.sort_values(key).reset_index(drop=True),
                                  bench.sort_values(key).reset_index(drop=True))  # fmt: skip
    skipped = pd.read_csv(tmp_path / "every" / "tables" / "evaluate_parsed.csv").groupby("system")[
        "not_applicable"
    ]
    # the three AIR-Bench clips and text's agreement item (with itself), recorded
    assert skipped.sum().to_dict() == {"sift_s": 0, "text": 4}
    assert "not applicable" in (tmp_path / "every" / "tables" / "azeros_table5.md").read_text()
    assert "not applicable" not in (tmp_path / "alone" / "tables" / "azeros_table5.md").read_text()


# ---- wiring: params per profile, the schema, dvc.yaml ----


@pytest.mark.parametrize("profile", ["quick", "small", "paper"])
def test_every_profile_suite_is_a_dvc_dep_of_the_evaluate_stage(profile):
    import yaml

    from speechalign.params import load_params

    suites = load_params(ROOT, {"profile": profile})["evaluate"]["suites"]
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]["deps"]
    for suite in suites:
        folder = f"data/corpora/{suite}"
        assert any(folder == d or folder.startswith(d.rstrip("/") + "/") for d in deps), (suite, deps)
    assert suites == (["voicebench", "airbench", "bench"] if profile == "paper" else ["bench"])


@pytest.mark.parametrize("suites", [[], ["bench", "bench"], ["librisqa"]])
def test_the_schema_refuses_an_empty_repeated_or_unknown_suite(suites):
    from speechalign.params import ParamsError, load_params

    with pytest.raises(ParamsError, match="evaluate"):
        load_params(ROOT, {"evaluate": {"suites": suites}})


def evaluate_commands(tmp_path: Path, suites: list[str]) -> dict[str, list[str]]:
    """The shell commands (split) of the quick profile's text answer job and scoring job with ``suites``."""
    import os
    import re
    import shlex
    import subprocess
    import sys

    import yaml

    overlay = tmp_path / f"{'-'.join(suites)}.yaml"
    real = {s: str(tmp_path / s) for s in suites if s != "bench"}
    overlay.write_text(yaml.safe_dump({"evaluate": {"suites": suites}, "data": {"real": real}}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["snakemake", "--cores", "1", "--dry-run", "--forceall", "--printshellcmds",
         "--configfile", str(overlay), "--", "results/evaluate/tables.csv"],
        cwd=ROOT, capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    commands = re.findall(r"^Shell command: (speechalign evaluate .+)$", proc.stdout, flags=re.M)
    split = [shlex.split(c) for c in commands]
    return {
        "answer": next(c for c in split if c[2] == "answer" and c[c.index("--system") + 1] == "text"),
        "trained": next(c for c in split if c[2] == "answer" and c[c.index("--system") + 1] == "sift_s"),
        "score": next(c for c in split if c[2] == "score"),
    }


def option(command: list[str], name: str) -> list[str]:
    """The values after ``name`` up to the next option."""
    start = command.index(name) + 1
    end = next((i for i in range(start, len(command)) if command[i].startswith("--")), len(command))
    return command[start:end]


def test_the_dag_passes_every_suite_and_an_answer_job_only_the_params_it_reads(tmp_path):
    """One answer job per system x seed reads every suite's items; adding a suite changes its inputs, not its
    params (bench answers are then reused from the answer cache), and a table setting reruns no answer job."""
    alone, every = evaluate_commands(tmp_path, ["bench"]), evaluate_commands(tmp_path, ["bench", "airbench"])
    assert option(alone["answer"], "--items") == ["data/corpora/bench/items.jsonl"]
    both = ["data/corpora/bench/items.jsonl", "data/corpora/airbench/items.jsonl"]
    assert option(every["answer"], "--items") == both and option(every["score"], "--items") == both
    answer_params = json.loads(option(every["answer"], "--evaluate-params")[0])
    assert set(answer_params) == {"asr", "max_new_tokens", "batch_size", "control_items"}
    assert option(alone["answer"], "--evaluate-params") == option(every["answer"], "--evaluate-params")
    # the behaviour match: every other system scores text's answers (so they come first); text its own
    assert "--references" not in alone["answer"]
    assert option(alone["trained"], "--references") == ["results/evaluate/answers/text/seed0.jsonl"]
    scoring = {"confidence", "bootstrap", "repeat_threshold"}
    assert set(json.loads(option(every["score"], "--evaluate-params")[0])) == scoring
