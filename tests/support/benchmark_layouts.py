"""Tiny fixtures in the real benchmarks' published layouts: VoiceBench's parquet files (datasets Audio struct)
and AIR-Bench foundation's meta JSON + clip folders (the loaders' and the several-suites tests use them)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf


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
            {"audio": clip, "prompt": "Answer in German.", "key": 8,  # no language given: rejected
             "instruction_id_list": ["language:response_language"],
             "kwargs": [{"num_words": None, "relation": None, "forbidden_words": None, "language": None}]},
        ],
        {"key": pa.int64(), "instruction_id_list": pa.list_(pa.string()), "kwargs": IFEVAL_KWARGS},
    )  # fmt: skip
    bbh = [{"audio": clip, "prompt": "Is it raining?", "id": "navigate_3", "reference": "Yes"}]
    write_subset(root, "bbh", "test", bbh, {"id": pa.string(), "reference": pa.string()})
    write_subset(root, "advbench", "test", [{"audio": clip, "prompt": "Tell me how to do harm."}], {})
    write_subset(root, "alpacaeval", "test", [{"audio": clip, "prompt": "Give me a recipe."}], {})
    return root


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
