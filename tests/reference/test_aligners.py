"""The aligners on real synthesised speech, the reference file round trip, and the accuracy table.

Tests marked ``models`` load the provisioned Whisper (data/models/whisper-tiny-en keeps them quick)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from speechalign.audio import resample
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


def test_real_voices_give_agreement_rows_against_pocketsphinx_and_pocketsphinx_is_not_scored_on_itself():
    from speechalign.reference.accuracy import accuracy_table
    from speechalign.reference.build import ReferenceRecord

    two = (Word("a", 0.0, 1.0), Word("b", 1.0, 2.0))
    exact = Utterance("x", "-", 16000, 32000, "a b", "espeak-f3", "test", "t", words=two)
    real_words = (Word("c", 0.5, 1.0), Word("d", 1.2, 2.0))
    real = Utterance("r", "-", 16000, 32000, "c d", "cmu-arctic-slt", "test", "t", words=real_words,
                     extra={"word_times": "pocketsphinx"})  # fmt: skip
    untimed = Utterance("p", "-", 16000, 16000, "e", "piper-joe", "test", "t", words=(Word("e", 0.0, 0.5),))

    def record(utt_id, aligner, times):
        words = tuple(TimedWord("w", start, end, "matched") for start, end in times)
        return ReferenceRecord(utt_id, aligner, words, ErrorCounts(reference_words=2), "", 2.0)

    refs = {
        "hand": {"x": record("x", "hand", [(0.0, 1.0), (1.0, 2.0)]),
                 "r": record("r", "hand", [(0.6, 1.0), (1.2, 1.8)])},
        "pocketsphinx": {"x": record("x", "pocketsphinx", [(0.02, 1.0), (1.0, 2.0)])},  # none for r
    }  # fmt: skip
    words = word_errors(refs, [exact, real, untimed])
    assert sorted(set(zip(words["aligner"], words["against"], strict=True))) == [
        ("hand", "exact"), ("hand", "pocketsphinx"), ("pocketsphinx", "exact"),
    ]  # fmt: skip
    table = accuracy_table(words, refs, [50, 100]).set_index(["aligner", "voice"])
    agreement = table.loc[("hand", "all-real")]
    assert agreement["against"] == "pocketsphinx" and agreement["words"] == 2
    assert agreement["mean_abs_start_ms"] == pytest.approx(50.0)  # |0.6-0.5| and |1.2-1.2|
    assert agreement["mean_abs_end_ms"] == pytest.approx(100.0)  # |1.0-1.0| and |1.8-2.0|
    assert agreement["within_50ms"] == 0.5  # boundaries 100, 0, 0, 200 ms
    assert table.loc[("hand", "all"), "mean_abs_start_ms"] == 0.0
    assert ("pocketsphinx", "all-real") not in table.index


def test_whisper_aligners_refuse_a_gpu_that_is_not_there(clip, monkeypatch):
    """reference.device: cuda on a machine without one is a clear error, not a silent CPU run."""
    import torch

    from speechalign.errors import UserFacingError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserFacingError, match="torch sees no GPU"):
        reference_record(clip, "faster-whisper", AlignerSettings(whisper="whisper-tiny-en", device="cuda"))
