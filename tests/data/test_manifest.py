"""The manifest format: lhotse round trip, validation reasons, rejects, atomic writes."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from speechalign.data.manifest import (
    ManifestError,
    Utterance,
    Word,
    audio_problem,
    partition,
    read_manifest,
    read_rejects,
    write_manifest,
)


def utterance(tmp_path, uid="u1", **changes) -> Utterance:
    path = tmp_path / f"{uid}.flac"
    if not path.exists():
        sf.write(path, np.zeros(16000, dtype=np.float32) + 0.01, 16000)
    fields = dict(
        id=uid, audio_path=str(path), sample_rate=16000, num_samples=16000, text="hello big world",
        speaker="spk", split="train", source="test",
        words=(Word("hello", 0.1, 0.3), Word("big", 0.3, 0.5), Word("world", 0.55, 0.9)),
        gender="female", emotion="sad", prosody_style="subdued", voice="v",
        question="What world?", answer="big", answer_span=(1, 2), extra={"k": 1},
    )  # fmt: skip
    fields.update(changes)
    return Utterance(**fields)


def test_round_trip_keeps_every_field(tmp_path):
    utts = [utterance(tmp_path, "a"), utterance(tmp_path, "b", gender=None, question=None, answer=None,
                                                answer_span=None, words=())]  # fmt: skip
    card = write_manifest(tmp_path / "m", utts, name="demo")
    back = read_manifest(tmp_path / "m")
    assert back == utts
    assert card["utterances"] == 2 and card["with_question"] == 1 and card["rejected"] == 0


def test_audio_staged_under_a_relative_folder_is_stored_relative_to_the_corpus(tmp_path, monkeypatch):
    """Corpora are built in a staging folder that is renamed into place: the stored audio paths must be
    relative to the corpus folder, never name the staging folder (given as a relative path here)."""
    from speechalign.data.manifest import RECORDINGS, write_manifest_files
    from speechalign.io import atomic_path

    monkeypatch.chdir(tmp_path)
    with atomic_path("corpora/demo") as staged:
        (staged / "audio").mkdir(parents=True)
        write_manifest_files(staged, [utterance(staged / "audio", "a")])
    with gzip.open(tmp_path / "corpora/demo" / RECORDINGS, "rt") as f:
        assert '"source": "audio/a.flac"' in f.read()
    (back,) = read_manifest("corpora/demo")
    assert sf.info(back.audio_path).frames == 16000


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"text": "  "}, "empty transcript"),
        ({"num_samples": 0}, "zero-length audio"),
        ({"num_samples": 16000 * 31}, "longer than 30 s"),
        ({"words": (Word("hello", 0.1, math.nan),)}, "non-finite"),
        ({"words": (Word("hello", 0.1, 1.5),)}, "outside the audio"),
        ({"words": (Word("hello", 0.4, 0.6), Word("big", 0.3, 0.5))}, "non-monotonic"),
        ({"words": (Word("hello", 0.4, 0.4),)}, "non-positive duration"),
        ({"gender": "robot"}, "unknown gender"),
        ({"emotion": "frustrated"}, "unknown emotion"),
        ({"split": "validation"}, "unknown split"),
        ({"answer_span": (2, 5)}, "answer span"),
    ],
)
def test_invalid_items_are_rejected_with_their_reason(tmp_path, changes, reason):
    good, bad = utterance(tmp_path, "good"), utterance(tmp_path, "bad", **changes)
    kept, rejected = partition([good, bad])
    assert kept == [good]
    assert len(rejected) == 1 and rejected[0].id == "bad" and reason in rejected[0].reason


def test_corrupt_and_missing_audio_are_rejected_not_lost(tmp_path):
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + b"\x00" * 50)
    items = [
        utterance(tmp_path, "ok"),
        utterance(tmp_path, "corrupt", audio_path=str(corrupt)),
        utterance(tmp_path, "missing", audio_path=str(tmp_path / "nowhere.flac")),
        utterance(tmp_path, "ok"),  # duplicate id
    ]
    kept, rejected = partition(items, check_audio=True)
    assert [u.id for u in kept] == ["ok"]
    reasons = {r.id: r.reason for r in rejected}
    assert reasons["corrupt"].startswith("unreadable audio") and reasons["missing"].startswith("unreadable")
    assert "duplicate id" in [r.reason for r in rejected]
    assert len(kept) + len(rejected) == len(items)
    write_manifest(tmp_path / "m", kept, rejected)
    assert {r.id for r in read_rejects(tmp_path / "m")} == {"corrupt", "missing", "ok"}


def test_audio_problem_checks_the_manifest_claims(tmp_path):
    u = utterance(tmp_path, "x")
    assert audio_problem(u.audio_path, 16000, 16000) is None
    assert "sample rate" in audio_problem(u.audio_path, 22050, 16000)
    assert "samples" in audio_problem(u.audio_path, 16000, 20000)


def test_writing_an_invalid_item_fails_and_leaves_no_folder(tmp_path):
    with pytest.raises(ManifestError, match="empty transcript"):
        write_manifest(tmp_path / "m", [utterance(tmp_path, text="")])
    assert not (tmp_path / "m").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.")]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.001, 0.5), min_size=1, max_size=20))
def test_word_times_survive_the_round_trip_to_the_microsecond(tmp_path_factory, gaps):
    tmp_path = tmp_path_factory.mktemp("m")
    t, words = 0.0, []
    for i, g in enumerate(gaps):
        words.append(Word(f"w{i}", round(t, 6), round(t + g, 6)))
        t += g
    n = int(math.ceil(t * 16000)) + 1
    u = utterance(tmp_path, words=tuple(words), num_samples=n, answer_span=None, question=None, answer=None,
                  text=" ".join(w.text for w in words))  # fmt: skip
    write_manifest(tmp_path / "m", [u])
    (back,) = read_manifest(tmp_path / "m")
    for a, b in zip(words, back.words, strict=True):
        assert a.text == b.text and abs(a.start - b.start) < 2e-6 and abs(a.end - b.end) < 2e-6
