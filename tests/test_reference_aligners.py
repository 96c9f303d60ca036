"""The aligners on real synthesised speech, the reference file round trip, and the accuracy table.

Tests marked ``models`` load the provisioned Whisper (data/models/whisper-tiny-en keeps them quick)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from speechalign.data.align import resample
from speechalign.data.espeak import synthesize
from speechalign.data.manifest import Utterance, Word
from speechalign.reference import AlignerSettings, align, read_reference
from speechalign.reference.accuracy import AccuracyError, span_iou, word_errors, write_accuracy
from speechalign.reference.build import build_reference, reference_record
from speechalign.reference.matching import ErrorCounts, TimedWord

TEXT = "Mary Smith is forty-two years old and she works as a nurse in Boston."


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A synthesised utterance written as a manifest row would describe it."""
    import soundfile as sf

    s = synthesize(TEXT, "en-us+klatt4")
    audio = resample(s.audio, s.sample_rate, 16000)
    path = tmp_path_factory.mktemp("clip") / "u1.flac"
    sf.write(path, audio, 16000, subtype="PCM_16")
    return Utterance(
        id="u1", audio_path=str(path), sample_rate=16000, num_samples=len(audio), text=TEXT,
        speaker="espeak-klatt4", split="test", source="test", words=s.words, voice="en-us+klatt4",
    )  # fmt: skip


def mean_start_error(record, utt) -> float:
    return float(np.mean([abs(r.start - e.start) for r, e in zip(record.words, utt.words, strict=True)]))


def test_pocketsphinx_aligns_spelled_hyphenated_numbers(clip):
    record = reference_record(clip, "pocketsphinx", AlignerSettings())
    assert record.error is None
    assert [w.text for w in record.words] == [w.text for w in clip.words]
    assert all(w.flag == "matched" for w in record.words)
    assert mean_start_error(record, clip) < 0.05  # espeak vs pocketsphinx: ~15 ms measured


def test_pocketsphinx_records_an_unalignable_transcript_instead_of_failing(clip):
    import soundfile as sf

    audio, _ = sf.read(clip.audio_path, dtype="float32")
    result = align("pocketsphinx", audio, 16000, "qzxv blorf")
    assert result.words == () and "not in the pocketsphinx dictionary" in result.error


@pytest.mark.models
@pytest.mark.parametrize("aligner", ["faster-whisper", "whisper-timestamped", "hf-whisper"])
def test_whisper_aligners_time_the_transcript_words(clip, provisioned, aligner):
    provisioned("whisper-tiny-en")
    record = reference_record(clip, aligner, AlignerSettings(whisper="whisper-tiny-en"))
    assert [w.text for w in record.words] == [w.text for w in clip.words]
    assert record.counts.wer < 0.3, record.recognised
    assert mean_start_error(record, clip) < 0.25
    assert record.words[3].flag in ("matched", "substituted")  # "forty-two" heard as "42"


def test_reference_file_round_trip_and_accuracy_outputs(clip, tmp_path):
    settings = AlignerSettings()
    summaries = {
        a: build_reference([clip], a, settings, tmp_path / f"{a}.jsonl.gz")
        for a in ("oracle", "pocketsphinx")
    }
    assert summaries["oracle"]["wer"] == 0.0 and summaries["oracle"]["interpolated"] == 0
    refs = {a: read_reference(tmp_path / f"{a}.jsonl.gz") for a in ("oracle", "pocketsphinx")}
    oracle = refs["oracle"]["u1"]
    assert [(w.start, w.end) for w in oracle.words] == [
        (round(w.start, 6), round(w.end, 6)) for w in clip.words
    ]
    table = write_accuracy(refs, [clip], [20, 50, 100], tmp_path / "out")
    for ext in ("csv", "md", "png", "pdf"):
        assert (tmp_path / "out" / f"accuracy.{ext}").stat().st_size > 0
    row = table.set_index(["aligner", "voice"]).loc[("oracle", "all")]
    assert row["mean_abs_start_ms"] < 0.001 and row["mean_iou"] > 0.9999 and row["within_20ms"] == 1.0
    assert pd.read_csv(tmp_path / "out" / "accuracy.csv")["aligner"].tolist().count("pocketsphinx") == 2


def test_accuracy_on_a_hand_case():
    exact = (Word("a", 0.0, 1.0), Word("b", 1.0, 2.0))
    utt = Utterance("x", "-", 16000, 32000, "a b", "espeak-f3", "test", "t", words=exact, voice="v")
    from speechalign.reference.build import ReferenceRecord

    timed = (TimedWord("a", 0.03, 1.0, "matched"), TimedWord("b", 1.0, 2.2, "matched"))
    rec = ReferenceRecord("x", "hand", timed, ErrorCounts(reference_words=2), "a b", 2.0)
    words = word_errors({"hand": {"x": rec}}, [utt])
    assert words["start_error"].round(6).tolist() == [0.03, 0.0]
    assert words["end_error"].round(6).tolist() == [0.0, 0.2]
    assert words["iou"].round(6).tolist() == [0.97, round(1 / 1.2, 6)]
    assert span_iou((0.0, 0.0), (0.0, 0.0)) == 1.0


def test_accuracy_refuses_corpora_without_exact_times(clip):
    piper = Utterance("p", "-", 16000, 16000, "a", "piper-joe", "test", "t", words=(Word("a", 0.0, 0.5),))
    with pytest.raises(AccuracyError, match="no utterance has exact word times"):
        word_errors({}, [piper])
