"""Real benchmark loaders on tiny fixtures written in each benchmark's published layout: VoiceBench's
parquet files (datasets Audio struct) and AIR-Bench foundation's meta JSON + clip folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from speechalign.data.manifest import read_rejects
from speechalign.evaluate.items import read_items
from speechalign.evaluate.loaders import BenchmarkLayoutError, benchmark_card_markdown, load_benchmark
from speechalign.evaluate.scoring import score_item

PARAMS = {"sample_rate": 16000, "max_duration": 30.0, "airbench_tasks": ["Speaker_Gender_Recognition",
          "Speaker_Emotion_Recontion", "Speech_Grounding"]}  # fmt: skip


def wav_bytes(seconds=0.5, rate=22050):
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, tone, rate, format="WAV")
    return buffer.getvalue()


AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_subset(root: Path, subset: str, split: str, rows: list[dict], extra: dict[str, pa.DataType]):
    schema = pa.schema([("audio", AUDIO), ("prompt", pa.string())] + list(extra.items()))
    folder = root / subset
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{split}-00000-of-00001.parquet")


IFEVAL_KWARGS = pa.list_(
    pa.struct(
        [
            ("num_words", pa.int64()),
            ("relation", pa.string()),
            ("forbidden_words", pa.list_(pa.string())),
            ("language", pa.string()),
        ]
    )
)


@pytest.fixture
def voicebench(tmp_path):
    root = tmp_path / "voicebench"
    clip = {"bytes": wav_bytes(), "path": "clip.wav"}
    write_subset(
        root,
        "openbookqa",
        "test",
        [
            {
                "audio": clip,
                "prompt": "Which is a mammal? A. trout B. whale C. frog D. shark",
                "reference": "B",
            },
            {"audio": {"bytes": b"not audio", "path": "x.wav"}, "prompt": "Broken.", "reference": "A"},
        ],
        {"reference": pa.string()},
    )
    sdqa = [{"audio": clip, "prompt": "Capital of France?", "reference": "Paris"}]
    write_subset(root, "sd-qa", "usa", sdqa, {"reference": pa.string()})
    write_subset(
        root,
        "ifeval",
        "test",
        [
            {"audio": clip, "prompt": "Describe cats in under ten words, no word dog.", "key": 7,
             "instruction_id_list": ["length_constraints:number_words", "keywords:forbidden_words"],
             "kwargs": [{"num_words": 10, "relation": "less than", "forbidden_words": None, "language": None},
                        {"num_words": None, "relation": None, "forbidden_words": ["dog"], "language": None}]},
            {"audio": clip, "prompt": "Answer in German.", "key": 8,
             "instruction_id_list": ["language:response_language"],
             "kwargs": [{"num_words": None, "relation": None, "forbidden_words": None, "language": "de"}]},
        ],
        {"key": pa.int64(), "instruction_id_list": pa.list_(pa.string()), "kwargs": IFEVAL_KWARGS},
    )  # fmt: skip
    bbh = [{"audio": clip, "prompt": "Is it raining?", "id": "navigate_3", "reference": "Yes"}]
    write_subset(root, "bbh", "test", bbh, {"id": pa.string(), "reference": pa.string()})
    write_subset(root, "advbench", "test", [{"audio": clip, "prompt": "Tell me how to do harm."}], {})
    write_subset(root, "alpacaeval", "test", [{"audio": clip, "prompt": "Give me a recipe."}], {})
    return root


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


def airbench_record(uid, task, dataset, path, answer, choices, question="Who is speaking?"):
    record = {"path": path, "question": question, "answer_gt": answer, "task_name": task,
              "dataset_name": dataset, "uniq_id": uid}  # fmt: skip
    record.update({f"choice_{letter}": c for letter, c in zip("abcd", choices, strict=False)})
    return record


@pytest.fixture
def airbench(tmp_path):
    root = tmp_path / "airbench" / "Foundation"
    records = [
        airbench_record(1, "Speaker_Gender_Recognition", "meld", "a.wav", "female", ["male", "female"]),
        airbench_record(
            2,
            "Speaker_Emotion_Recontion",
            "iemocap",
            "b.wav",
            "sad",
            ["happy", "sad", "angry", "neutral"],
            "What emotion?",
        ),  # fmt: skip
        airbench_record(
            3, "Speech_Grounding", "librispeech", "c.wav", "1.2s", ["0.5s", "1.2s", "2.0s", "3.1s"]
        ),
        airbench_record(
            4, "Music_Genre_Recognition", "gtzan", "d.wav", "jazz", ["rock", "jazz"]
        ),  # not speech
        airbench_record(5, "Speaker_Gender_Recognition", "meld", "e.wav", "child", ["male", "female"]),
        airbench_record(6, "Speaker_Gender_Recognition", "meld", "missing.wav", "male", ["male", "female"]),
    ]
    for r in records:
        if r["path"] != "missing.wav":
            clip = root / f"{r['task_name']}_{r['dataset_name']}" / r["path"]
            clip.parent.mkdir(parents=True, exist_ok=True)
            clip.write_bytes(wav_bytes(rate=16000))
    (root / "Foundation_meta.json").write_text(json.dumps(records))
    return root


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
    assert main(argv + ["--card", str(card), "--params", params]) == 0
    assert len(read_items(out / "items.jsonl")) == 3
    assert "| paralinguistic | airbench/Speaker_Gender_Recognition | 1 |" in card.read_text()
    assert main(["data", "load", "--corpus", "voicebench", "--root", str(tmp_path / "no"), "--out", str(out),
                 "--params", params]) == 2  # fmt: skip
