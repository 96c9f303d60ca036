"""Real benchmark loaders on tiny fixtures written in each benchmark's published layout: VoiceBench's
parquet files (datasets Audio struct) and AIR-Bench foundation's meta JSON + clip folders."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from speechalign.data.bench.loaders import BenchmarkLayoutError, benchmark_card_markdown, load_benchmark
from speechalign.data.manifest import read_rejects
from speechalign.metrics.bench.items import read_items
from speechalign.metrics.bench.scorers import score_item

PARAMS = {"sample_rate": 16000, "max_duration": 30.0, "airbench_tasks": ["Speaker_Gender_Recognition",
          "Speaker_Emotion_Recontion", "Speech_Grounding"]}  # fmt: skip


def test_voicebench_subsets_load_into_items_with_their_tasks(voicebench, tmp_path):
    card = load_benchmark("voicebench", voicebench, tmp_path / "out" / "voicebench", PARAMS)
    items = {i.subset: i for i in read_items(tmp_path / "out" / "voicebench" / "items.jsonl")}
    assert {s: i.task for s, i in items.items()} == {
        "voicebench/openbookqa": "mcq",
        "voicebench/sd-qa": "sqa",
        "voicebench/ifeval": "ifeval",
        "voicebench/bbh": "bbh",
        "voicebench/advbench": "refusal",
        "voicebench/alpacaeval": "agreement",
    }
    mcq = items["voicebench/openbookqa"]
    assert (mcq.choices, mcq.references, mcq.prompt) == (("trout", "whale", "frog", "shark"), ("B",), "")
    assert mcq.spoken.startswith("Which is a mammal?")
    audio, rate = sf.read(mcq.audio)
    assert rate == 16000 and len(audio) == pytest.approx(8000, abs=2)  # 0.5 s resampled from 22.05 kHz
    assert items["voicebench/sd-qa"].metadata["split"] == "usa"
    rules = items["voicebench/ifeval"].rules
    assert rules == (
        {"id": "length_constraints:number_words", "num_words": 10, "relation": "less than"},
        {"id": "keywords:forbidden_words", "forbidden_words": ["dog"]},
    )
    assert items["voicebench/bbh"].metadata["bbh_task"] == "navigate_3"
    reasons = {r.id: r.reason for r in read_rejects(tmp_path / "out" / "voicebench")}
    assert reasons == {
        "voicebench-openbookqa-test-00001": "unreadable row",
        "voicebench-ifeval-test-00001": "invalid benchmark item",
    }
    assert card["rejected"] == 2 and card["items"]["mcq"] == {"voicebench/openbookqa": 1}
    assert len(list((tmp_path / "out" / "voicebench" / "audio").rglob("*.flac"))) == 6  # no orphans
    # the same scorers as the embedded suite, with the published rules except unparsed = wrong
    assert score_item(mcq, "The answer is B.").score == 1.0
    assert score_item(items["voicebench/sd-qa"], "It is Paris.").score == 1.0
    assert score_item(items["voicebench/ifeval"], "Cats purr.").score == 1.0
    assert score_item(items["voicebench/bbh"], "yes").score == 1.0
    assert score_item(items["voicebench/advbench"], "I can't help with that.").score == 1.0
    assert "| mcq | voicebench/openbookqa | 1 |" in benchmark_card_markdown(card)


def test_airbench_speech_tasks_load_with_letters_from_answer_gt(airbench, tmp_path):
    card = load_benchmark("airbench", airbench, tmp_path / "out" / "airbench", PARAMS)
    items = {i.id: i for i in read_items(tmp_path / "out" / "airbench" / "items.jsonl")}
    assert sorted(items) == ["airbench-1", "airbench-2", "airbench-3"]
    gender = items["airbench-1"]
    assert (gender.task, gender.subset, gender.references) == (
        "paralinguistic",
        "airbench/Speaker_Gender_Recognition",
        ("B",),
    )
    assert gender.prompt.endswith("Who is speaking?\nA. male\nB. female")  # no "C. None" for absent options
    assert gender.prompt.startswith("Choose the most suitable answer from options A, B, C, and D")
    assert gender.audio == str((airbench / "Speaker_Gender_Recognition_meld" / "a.wav").resolve())
    assert gender.spoken == ""  # no transcript: no text run
    assert items["airbench-2"].task == "paralinguistic" and items["airbench-3"].task == "mcq"
    assert items["airbench-3"].references == ("B",)
    reasons = {r.id: r.reason for r in read_rejects(tmp_path / "out" / "airbench")}
    assert reasons == {"airbench-5": "invalid meta record", "airbench-6": "unreadable audio"}
    assert card["items"]["paralinguistic"]["airbench/Speaker_Gender_Recognition"] == 1
    # published: the first letter "B" parses, an unparsed answer leaves the denominator; ours: wrong
    assert score_item(gender, "B").score == 1.0
    unparsed = score_item(gender, "It is a woman's voice.")
    assert (unparsed.score, unparsed.parsed) == (0.0, False)


def test_layout_errors_are_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkLayoutError, match="no <subset>/<split>-\\*.parquet files"):
        load_benchmark("voicebench", tmp_path / "empty", tmp_path / "out", PARAMS)
    with pytest.raises(BenchmarkLayoutError, match="Foundation_meta.json is missing"):
        load_benchmark("airbench", tmp_path / "empty", tmp_path / "out", PARAMS)
    (tmp_path / "empty" / "Foundation_meta.json").write_text('{"not": "a list"}')
    with pytest.raises(BenchmarkLayoutError, match="expected a list of questions"):
        load_benchmark("airbench", tmp_path / "empty", tmp_path / "out", PARAMS)
    with pytest.raises(BenchmarkLayoutError, match="is not a folder"):
        load_benchmark("airbench", tmp_path / "nowhere", tmp_path / "out", PARAMS)
    assert not (tmp_path / "out").exists()


def test_the_data_cli_loads_a_benchmark_and_writes_its_card(airbench, tmp_path):
    from speechalign.cli import main

    params = json.dumps(PARAMS)
    out, card = tmp_path / "corpora" / "airbench", tmp_path / "airbench.md"
    argv = ["data", "load", "--corpus", "airbench", "--root", str(airbench), "--out", str(out)]
    assert main(argv + ["--card", str(card), "--data-params", params]) == 0
    assert len(read_items(out / "items.jsonl")) == 3
    assert "| paralinguistic | airbench/Speaker_Gender_Recognition | 1 |" in card.read_text()
    assert main(["data", "load", "--corpus", "voicebench", "--root", str(tmp_path / "no"), "--out", str(out),
                 "--data-params", params]) == 2  # fmt: skip
