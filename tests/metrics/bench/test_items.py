"""The benchmark item format: JSONL round trip (relative audio paths), validation with clear errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from speechalign.metrics.bench.items import BenchItem, ItemError, invalid_reason, read_items, write_items

MCQ = BenchItem(
    id="mcq-0",
    task="mcq",
    subset="arithmetic",
    audio="audio/mcq-0.flac",
    spoken="What is seven plus five? A, eleven. B, twelve.",
    prompt="Answer with the letter of the correct option.",
    references=("B",),
    choices=("eleven", "twelve"),
    metadata={"voice": "en-us+klatt", "x": float("nan")},
)
IFEVAL = BenchItem(
    id="if-0",
    task="ifeval",
    subset="format",
    audio=None,
    spoken="Name three colours in lower case.",
    rules=({"id": "change_case:english_lowercase"},),
)


def test_round_trip_resolves_relative_audio_and_stores_nan_as_null(tmp_path):
    corpus = tmp_path / "bench"
    (corpus / "audio").mkdir(parents=True)
    sqa_audio = tmp_path / "sqa" / "audio" / "sqa-1.flac"
    items = [
        replace(MCQ, audio=str(corpus / "audio" / "mcq-0.flac")),
        IFEVAL,
        BenchItem("sqa-1", "sqa", "sqa", str(sqa_audio), "A passage.", "Who?", ("Anna",)),
    ]
    write_items(corpus / "items.jsonl", items)
    rows = [json.loads(line) for line in (corpus / "items.jsonl").read_text().splitlines()]
    assert [r["audio"] for r in rows] == ["audio/mcq-0.flac", None, "../sqa/audio/sqa-1.flac"]
    assert rows[0]["metadata"]["x"] is None
    back = read_items(corpus / "items.jsonl")
    assert back[0].audio == str((corpus / "audio" / "mcq-0.flac").resolve())
    assert back[2].audio == str(sqa_audio.resolve())
    assert back[1] == IFEVAL
    assert back[0].references == ("B",) and back[0].reference == "B"


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(task="essay"), "unknown task 'essay'"),
        (dict(spoken="  ", audio=None), "empty spoken text"),
        (dict(choices=("one",)), "needs 2-10 choices"),
        (dict(choices=("one", "One")), "duplicate choices"),
        (dict(references=("C",)), "is not one letter among the 2 choices"),
        (dict(references=("A", "B")), "is not one letter"),
        (dict(choices=("one", " ")), "empty choice text"),
    ],
)
def test_invalid_mcq_items_say_why(change, reason):
    assert reason in invalid_reason(replace(MCQ, **change))


def test_a_clip_without_transcript_is_valid_except_for_agreement():
    assert invalid_reason(replace(MCQ, spoken="")) is None
    agreement = BenchItem("a", "agreement", "requests", "a.flac", "")
    assert invalid_reason(agreement) == "empty spoken text"


def test_invalid_ifeval_and_sqa_items_say_why():
    assert invalid_reason(replace(IFEVAL, rules=())) == "ifeval needs at least one rule"
    assert "unknown ifeval rule id" in invalid_reason(replace(IFEVAL, rules=({"id": "x"},)))
    sqa = BenchItem("s", "sqa", "sqa", None, "passage", "q?", ("",))
    assert invalid_reason(sqa) == "sqa needs a non-empty reference answer"


def test_writing_invalid_or_duplicate_items_fails_and_leaves_no_file(tmp_path):
    target = tmp_path / "items.jsonl"
    with pytest.raises(ItemError, match="'mcq-0': duplicate id"):
        write_items(target, [MCQ, MCQ])
    with pytest.raises(ItemError, match="unknown task"):
        write_items(target, [replace(MCQ, task="essay")])
    assert not target.exists()


def test_reading_bad_files_names_the_line_or_the_field(tmp_path):
    with pytest.raises(ItemError, match="is missing"):
        read_items(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    with pytest.raises(ItemError, match=r"lacks fields \['task', 'subset', 'audio', 'spoken'\]"):
        read_items(bad)
    bad.write_text("\n{not json\n")
    with pytest.raises(ItemError, match="bad.jsonl:2: not JSON"):
        read_items(bad)
