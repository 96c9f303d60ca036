"""Loaders for the real corpora, each reading the corpus's own published layout into the one manifest
format. Real corpora carry no word times (the reference stage aligns them); labels outside the paper's
four emotion classes, unreadable audio and the like go to rejects with their reason.

Layouts read (``root`` is the folder named):
- LibriSpeech: ``<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` + ``*.trans.txt``;
  genders from ``SPEAKERS.TXT`` (in root or its parent).
- LibriSQA: ``*.json`` files (lists of items with the LibriSpeech path of the passage under
  ``speech_path``/``path``/``audio``, plus ``question`` and ``answer``); audio and transcripts come from
  the LibriSpeech folder (``audio_root``). The split is read from the file name (train/dev/test).
- IEMOCAP full release: ``Session<n>/sentences/wav/<dialog>/<utt>.wav``,
  ``Session<n>/dialog/EmoEvaluation/<dialog>.txt``, ``Session<n>/dialog/transcriptions/<dialog>.txt``.
  Four classes, excited merged into happy; Session 5 is the test split (the usual leave-one-session-out).
- CREMA-D: ``AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav`` + ``VideoDemographics.csv``; the 12
  sentence codes map to their published texts; disgust and fear are rejected; actors >= 1075 are test.
- Common Voice: ``<lang>/{train,dev,test}.tsv`` + ``<lang>/clips/*.mp3`` (root = the language folder).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from speechalign.data.manifest import Rejection, Utterance, partition, write_manifest
from speechalign.errors import UserFacingError

IEMOCAP_EMOTIONS = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
CREMAD_EMOTIONS = {"NEU": "neutral", "HAP": "happy", "ANG": "angry", "SAD": "sad"}
CREMAD_SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
CREMAD_FIRST_TEST_ACTOR = 1075
COMMONVOICE_AGES = {
    "teens": "teen",
    "twenties": "adult",
    "thirties": "adult",
    "fourties": "adult",
    "fifties": "adult",
    "sixties": "senior",
    "seventies": "senior",
    "eighties": "senior",
    "nineties": "senior",
}

Item = Utterance | Rejection


class LoaderError(UserFacingError):
    """The corpus folder does not have the layout its loader reads."""


def _probe(path: Path, make, source: str, item_id: str) -> Item:
    """Read the audio header and build the Utterance, or reject the item as unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as err:  # missing, corrupt or unsupported file
        return Rejection(item_id, source, "unreadable audio", f"{path}: {str(err)[:150]}")
    return make(str(path.resolve()), info.samplerate, info.frames)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise LoaderError(f"{path} not found: expected {what}")
    return path


def librispeech_split(subset: str) -> str:
    return "test" if subset.startswith("test") else "dev" if subset.startswith("dev") else "train"


def librispeech_genders(root: Path) -> dict[str, str]:
    for candidate in (root / "SPEAKERS.TXT", root.parent / "SPEAKERS.TXT"):
        if candidate.exists():
            genders = {}
            for line in candidate.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith(";") or "|" not in line:
                    continue
                fields = [f.strip() for f in line.split("|")]
                genders[fields[0]] = {"F": "female", "M": "male"}.get(fields[1], fields[1])
            return genders
    return {}


def librispeech_transcripts(root: Path) -> dict[str, tuple[str, Path, str]]:
    """utterance id -> (transcript, audio path, subset)."""
    found = {}
    for trans in sorted(root.glob("*/*/*/*.trans.txt")):
        subset = trans.parts[-4]
        for line in trans.read_text(encoding="utf-8").splitlines():
            if line.strip():
                utt_id, _, text = line.partition(" ")
                found[utt_id] = (text.strip(), trans.parent / f"{utt_id}.flac", subset)
    return found


def load_librispeech(root: Path, params: Mapping[str, Any], **_) -> Iterator[Item]:
    genders = librispeech_genders(root)
    transcripts = librispeech_transcripts(root)
    if not transcripts:
        raise LoaderError(
            f"no <subset>/<speaker>/<chapter>/*.trans.txt under {root}: not a LibriSpeech folder"
        )
    for utt_id, (text, path, subset) in transcripts.items():
        speaker = utt_id.split("-")[0]

        def make(p, sr, n, utt_id=utt_id, text=text, speaker=speaker, subset=subset):
            return Utterance(
                id=f"librispeech-{utt_id}",
                audio_path=p,
                sample_rate=sr,
                num_samples=n,
                text=text,
                speaker=f"librispeech-{speaker}",
                split=librispeech_split(subset),
                source=f"librispeech:{subset}",
                gender=genders.get(speaker),
            )

        yield _probe(path, make, "librispeech", f"librispeech-{utt_id}")


def load_librisqa(
    root: Path, params: Mapping[str, Any], audio_root: str | None = None, **_
) -> Iterator[Item]:
    if audio_root is None:
        raise LoaderError("LibriSQA needs --audio-root: the LibriSpeech folder holding its passages")
    libri = Path(audio_root)
    genders = librispeech_genders(libri)
    transcripts = librispeech_transcripts(libri)
    files = sorted(root.rglob("*.json"))
    if not files:
        raise LoaderError(f"no *.json under {root}: not a LibriSQA folder")
    for file in files:
        name = file.stem.lower()
        split = "test" if "test" in name else "dev" if ("dev" in name or "val" in name) else "train"
        for k, entry in enumerate(json.loads(file.read_text(encoding="utf-8"))):
            item_id = f"librisqa-{file.stem}-{k:06d}"
            speech = entry.get("speech_path") or entry.get("path") or entry.get("audio") or ""
            utt_id = Path(speech).name.split(".")[0]
            if utt_id not in transcripts:
                yield Rejection(item_id, "librisqa", "passage not found in LibriSpeech", speech)
                continue
            text, path, subset = transcripts[utt_id]
            speaker = utt_id.split("-")[0]

            def make(
                p, sr, n, item_id=item_id, text=text, speaker=speaker, entry=entry, split=split, subset=subset
            ):
                return Utterance(
                    id=item_id,
                    audio_path=p,
                    sample_rate=sr,
                    num_samples=n,
                    text=text,
                    speaker=f"librispeech-{speaker}",
                    split=split,
                    source=f"librisqa:{subset}",
                    gender=genders.get(speaker),
                    question=entry.get("question"),
                    answer=entry.get("answer", entry.get("response")),
                )

            yield _probe(path, make, "librisqa", item_id)


_IEMOCAP_LABEL = re.compile(r"^\[[\d.]+ - [\d.]+\]\t(\S+)\t(\S+)\t")
_IEMOCAP_LINE = re.compile(r"^(\S+) \[[\d.]+-[\d.]+\]: (.*)$")


def load_iemocap(root: Path, params: Mapping[str, Any], **_) -> Iterator[Item]:
    sessions = sorted(root.glob("Session[1-5]"))
    if not sessions:
        raise LoaderError(f"no Session1..Session5 under {root}: not IEMOCAP_full_release")
    for session in sessions:
        labels, texts = {}, {}
        for f in sorted(_require(session / "dialog" / "EmoEvaluation", "EmoEvaluation").glob("*.txt")):
            for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                if m := _IEMOCAP_LABEL.match(line):
                    labels[m.group(1)] = m.group(2)
        for f in sorted(_require(session / "dialog" / "transcriptions", "transcriptions").glob("*.txt")):
            for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                if m := _IEMOCAP_LINE.match(line.strip()):
                    texts[m.group(1)] = m.group(2).strip()
        for utt_id, label in sorted(labels.items()):
            item_id = f"iemocap-{utt_id}"
            if label not in IEMOCAP_EMOTIONS:
                yield Rejection(item_id, "iemocap", "label outside the four classes", label)
                continue
            dialog = utt_id.rsplit("_", 1)[0]
            # the speaker's gender is the letter before the turn number (Ses01F_impro01_M012: male)
            gender = {"F": "female", "M": "male"}[utt_id.rsplit("_", 1)[1][0]]

            def make(p, sr, n, utt_id=utt_id, label=label, gender=gender, session=session, texts=texts):
                return Utterance(
                    id=f"iemocap-{utt_id}",
                    audio_path=p,
                    sample_rate=sr,
                    num_samples=n,
                    text=texts.get(utt_id, ""),
                    speaker=f"iemocap-{utt_id[:5]}{gender[0].upper()}",
                    split="test" if session.name == "Session5" else "train",
                    source="iemocap",
                    gender=gender,
                    emotion=IEMOCAP_EMOTIONS[label],
                    extra={"label": label},
                )

            yield _probe(session / "sentences" / "wav" / dialog / f"{utt_id}.wav", make, "iemocap", item_id)


def age_group(age: int) -> str:
    return "child" if age < 13 else "teen" if age < 20 else "adult" if age < 60 else "senior"


def load_cremad(root: Path, params: Mapping[str, Any], **_) -> Iterator[Item]:
    demographics = {}
    with open(_require(root / "VideoDemographics.csv", "VideoDemographics.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            demographics[row["ActorID"]] = row
    for path in sorted(_require(root / "AudioWAV", "AudioWAV/").glob("*.wav")):
        item_id = f"cremad-{path.stem}"
        parts = path.stem.split("_")
        if len(parts) != 4 or parts[1] not in CREMAD_SENTENCES:
            yield Rejection(
                item_id, "cremad", "file name not <actor>_<sentence>_<emotion>_<level>", path.name
            )
            continue
        actor, sentence, emotion, level = parts
        if emotion not in CREMAD_EMOTIONS:
            yield Rejection(item_id, "cremad", "label outside the four classes", emotion)
            continue
        info = demographics.get(actor)
        if info is None:
            yield Rejection(item_id, "cremad", "actor missing from VideoDemographics.csv", actor)
            continue

        def make(
            p, sr, n, actor=actor, sentence=sentence, emotion=emotion, level=level, info=info, stem=path.stem
        ):
            return Utterance(
                id=f"cremad-{stem}",
                audio_path=p,
                sample_rate=sr,
                num_samples=n,
                text=CREMAD_SENTENCES[sentence],
                speaker=f"cremad-{actor}",
                split="test" if int(actor) >= CREMAD_FIRST_TEST_ACTOR else "train",
                source="cremad",
                gender=info["Sex"].strip().lower(),
                age_group=age_group(int(info["Age"])),
                emotion=CREMAD_EMOTIONS[emotion],
                extra={"intensity": level},
            )

        yield _probe(path, make, "cremad", item_id)


def load_commonvoice(root: Path, params: Mapping[str, Any], **_) -> Iterator[Item]:
    tables = [(split, root / f"{split}.tsv") for split in ("train", "dev", "test")]
    if not any(t.exists() for _, t in tables):
        raise LoaderError(f"no train/dev/test.tsv under {root}: give the Common Voice language folder")
    for split, table in tables:
        if not table.exists():
            continue
        with open(table, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                item_id = f"commonvoice-{Path(row['path']).stem}"
                gender = (row.get("gender") or "").split("_")[0] or None  # "female_feminine" -> female
                if gender not in (None, "female", "male"):
                    gender = None  # other values are self-described; kept as unknown, not guessed
                age = COMMONVOICE_AGES.get(row.get("age") or "")

                def make(p, sr, n, row=row, split=split, gender=gender, age=age, item_id=item_id):
                    return Utterance(
                        id=item_id,
                        audio_path=p,
                        sample_rate=sr,
                        num_samples=n,
                        text=row["sentence"],
                        speaker=f"commonvoice-{row['client_id'][:16]}",
                        split=split,
                        source="commonvoice",
                        gender=gender,
                        age_group=age,
                        extra={"accents": row.get("accents") or row.get("accent") or ""},
                    )

                yield _probe(root / "clips" / row["path"], make, "commonvoice", item_id)


LOADERS = {
    "librispeech": load_librispeech,
    "librisqa": load_librisqa,
    "iemocap": load_iemocap,
    "cremad": load_cremad,
    "commonvoice": load_commonvoice,
}


def load_items(corpus: str, root: str | Path, params: Mapping[str, Any], audio_root: str | None = None):
    """(kept utterances, rejections) of a real corpus, validated (audio decoded) like the embedded ones."""
    if corpus not in LOADERS:
        raise LoaderError(f"unknown corpus {corpus!r}; known: {', '.join(LOADERS)}")
    root = Path(root)
    if not root.is_dir():
        raise LoaderError(f"{root} is not a folder: point data.real.{corpus} at the corpus")
    items = list(LOADERS[corpus](root, params, audio_root=audio_root))
    rejections = [i for i in items if isinstance(i, Rejection)]
    kept, invalid = partition(
        (i for i in items if isinstance(i, Utterance)), max_duration=params["max_duration"], check_audio=True
    )
    return kept, rejections + invalid


def load_corpus(
    corpus: str, root: str | Path, out: str | Path, params: Mapping[str, Any], audio_root: str | None = None
) -> dict[str, Any]:
    kept, rejections = load_items(corpus, root, params, audio_root)
    if not kept:
        raise LoaderError(
            f"{corpus}: no usable item under {root}; first reasons: {[r.reason for r in rejections[:3]]}"
        )
    return write_manifest(out, kept, rejections, corpus)
