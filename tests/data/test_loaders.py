"""Real-corpus loaders on tiny fixtures written in each corpus's published layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from speechalign.data.loaders import LoaderError, load_corpus
from speechalign.data.manifest import read_manifest, read_rejects

PARAMS = yaml.safe_load((Path(__file__).parent / "params_fixture.yaml").read_text())


def wav(path: Path, seconds: float = 1.0, rate: int = 16000, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(np.arange(int(seconds * rate)) / 7.0).astype(np.float32), rate, format=fmt)


def librispeech(root: Path) -> Path:
    (root / "SPEAKERS.TXT").parent.mkdir(parents=True, exist_ok=True)
    (root / "SPEAKERS.TXT").write_text(";ID |SEX| SUBSET |MINUTES| NAME\n84 | F | dev-clean | 8.02 | C\n")
    chapter = root / "dev-clean" / "84" / "121123"
    wav(chapter / "84-121123-0000.flac", fmt="FLAC")
    wav(chapter / "84-121123-0001.flac", fmt="FLAC")
    (chapter / "84-121123.trans.txt").write_text(
        "84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS\n"
    )
    return root


def test_librispeech_and_librisqa(tmp_path):
    libri = librispeech(tmp_path / "LibriSpeech")
    card = load_corpus("librispeech", libri, tmp_path / "out-ls", PARAMS)
    utts = read_manifest(tmp_path / "out-ls")
    assert card["utterances"] == 2
    assert utts[0].text == "GO DO YOU HEAR" and utts[0].gender == "female" and utts[0].split == "dev"
    sqa = tmp_path / "librisqa" / "LibriSQA-PartI"
    sqa.mkdir(parents=True)
    items = [
        {"speech_path": "dev-clean/84/121123/84-121123-0001.flac", "question": "Q?", "answer": "A."},
        {"speech_path": "dev-clean/84/121123/84-121123-9999.flac", "question": "Q?", "answer": "A."},
    ]
    (sqa / "LibriSQA-PartI-test.json").write_text(json.dumps(items))
    load_corpus("librisqa", tmp_path / "librisqa", tmp_path / "out-sqa", PARAMS, audio_root=str(libri))
    (u,) = read_manifest(tmp_path / "out-sqa")
    assert (u.text, u.question, u.answer, u.split) == ("BUT IN LESS", "Q?", "A.", "test")
    assert [r.reason for r in read_rejects(tmp_path / "out-sqa")] == ["passage not found in LibriSpeech"]


def test_iemocap_four_classes_with_excited_merged(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    for session, dialog in (("Session1", "Ses01F_impro01"), ("Session5", "Ses05M_script01")):
        d = root / session / "dialog"
        (d / "EmoEvaluation").mkdir(parents=True)
        (d / "transcriptions").mkdir(parents=True)
        labels = {"F000": "neu", "M001": "exc", "F002": "fru"}
        (d / "EmoEvaluation" / f"{dialog}.txt").write_text(
            "% header\n\n"
            + "".join(f"[1.0 - 2.0]\t{dialog}_{t}\t{lab}\t[2.5, 2.5, 2.5]\n" for t, lab in labels.items())
        )
        (d / "transcriptions" / f"{dialog}.txt").write_text(
            "".join(f"{dialog}_{t} [001.0000-002.0000]: Words {t}.\n" for t in labels)
        )
        for t in labels:
            wav(root / session / "sentences" / "wav" / dialog / f"{dialog}_{t}.wav")
    load_corpus("iemocap", root, tmp_path / "out", PARAMS)
    utts = {u.id: u for u in read_manifest(tmp_path / "out")}
    assert utts["iemocap-Ses01F_impro01_M001"].emotion == "happy"
    assert utts["iemocap-Ses01F_impro01_M001"].gender == "male"
    assert utts["iemocap-Ses05M_script01_F000"].split == "test"
    assert utts["iemocap-Ses01F_impro01_F000"].text == "Words F000."
    rejects = read_rejects(tmp_path / "out")
    assert sorted(r.detail for r in rejects) == ["fru", "fru"]


def test_cremad_with_bad_files(tmp_path):
    root = tmp_path / "CREMA-D"
    (root / "AudioWAV").mkdir(parents=True)
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1080,17,Female,C,N\n"
    )
    wav(root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    wav(root / "AudioWAV" / "1080_IEO_HAP_HI.wav")
    wav(root / "AudioWAV" / "1001_DFA_DIS_XX.wav")
    wav(root / "AudioWAV" / "1001_TIE_SAD_XX.wav", seconds=31)
    (root / "AudioWAV" / "1001_IOM_NEU_XX.wav").write_bytes(b"RIFF not really")
    load_corpus("cremad", root, tmp_path / "out", PARAMS)
    utts = {u.id: u for u in read_manifest(tmp_path / "out")}
    assert set(utts) == {"cremad-1001_DFA_ANG_XX", "cremad-1080_IEO_HAP_HI"}
    teen = utts["cremad-1080_IEO_HAP_HI"]
    assert (teen.text, teen.gender, teen.age_group, teen.split) == (
        "It's eleven o'clock.",
        "female",
        "teen",
        "test",
    )
    reasons = sorted(r.reason.split(":")[0] for r in read_rejects(tmp_path / "out"))
    assert reasons == ["audio longer than 30 s", "label outside the four classes", "unreadable audio"]


def test_commonvoice_tsv(tmp_path):
    root = tmp_path / "cv" / "en"
    wav(root / "clips" / "a.mp3", fmt="MP3")
    wav(root / "clips" / "b.mp3", fmt="MP3")
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\n"
    (root / "train.tsv").write_text(header + "c1\ta.mp3\tHello there.\t2\t0\ttwenties\tfemale_feminine\tus\n")
    (root / "test.tsv").write_text(header + "c2\tb.mp3\tGood day.\t2\t0\t\t\t\n")
    load_corpus("commonvoice", root, tmp_path / "out", PARAMS)
    a, b = read_manifest(tmp_path / "out")
    assert (a.text, a.gender, a.age_group, a.split) == ("Hello there.", "female", "adult", "train")
    assert (b.gender, b.age_group, b.split) == (None, None, "test")


def test_wrong_layout_is_a_clear_error(tmp_path):
    with pytest.raises(LoaderError, match="not a LibriSpeech folder"):
        load_corpus("librispeech", tmp_path, tmp_path / "out", PARAMS)
    with pytest.raises(LoaderError, match="Session1"):
        load_corpus("iemocap", tmp_path, tmp_path / "out", PARAMS)
