"""One manifest format for every corpus: lhotse RecordingSet + SupervisionSet (jsonl.gz).

A corpus folder holds::

    recordings.jsonl.gz    lhotse Recordings; audio paths relative to the folder (or absolute)
    supervisions.jsonl.gz  lhotse SupervisionSegments, one per utterance, covering the whole recording
    rejects.jsonl          items that failed validation, each with its reason (never silently dropped)
    card.json              the data card: counts, hours, voices, label balance, rejects by reason
    audio/                 the audio (embedded corpora only)

Per utterance: ``text``, ``speaker``, ``gender`` are lhotse fields; word times are lhotse AlignmentItems
under ``alignment["word"]``; everything else is in ``custom``: age_group, emotion (the paper's four
classes), prosody_style (the embedded stand-in for emotion), question, answer, answer_span (word indices,
end exclusive), split, source, voice, and free-form ``extra``.

    >>> utts = read_manifest("data/corpora/sqa")          # doctest: +SKIP
    >>> utts[0].words[0], utts[0].split                    # doctest: +SKIP
    (Word(text='The', start=0.012, end=0.131), 'test')

Code that wants lhotse objects directly uses :func:`read_lhotse`, which resolves audio paths.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from speechalign.errors import UserFacingError
from speechalign.io import atomic_path, write_json

RECORDINGS = "recordings.jsonl.gz"
SUPERVISIONS = "supervisions.jsonl.gz"
REJECTS = "rejects.jsonl"
CARD = "card.json"

GENDERS = ("female", "male")
# The paper's four emotion classes (IEMOCAP convention; happy includes excited).
EMOTIONS = ("neutral", "happy", "angry", "sad")
SPLITS = ("train", "dev", "test")
AGE_GROUPS = ("child", "teen", "adult", "senior")
MAX_DURATION = 30.0  # seconds; longer items are rejected unless a corpus raises it (SQA passages: 40 s)
TIME_TOLERANCE = 0.01  # seconds a word may overhang the audio end (rounding of sample counts)


class ManifestError(UserFacingError):
    """A manifest folder is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the recording
    end: float


@dataclass(frozen=True)
class Utterance:
    """One recording with its transcript and labels; the typed view of a manifest row."""

    id: str
    audio_path: str
    sample_rate: int
    num_samples: int
    text: str
    speaker: str
    split: str
    source: str
    words: tuple[Word, ...] = ()
    gender: str | None = None
    age_group: str | None = None
    emotion: str | None = None
    prosody_style: str | None = None
    voice: str | None = None
    question: str | None = None
    answer: str | None = None
    answer_span: tuple[int, int] | None = None  # word indices into ``words``, end exclusive
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate


@dataclass(frozen=True)
class Rejection:
    id: str
    source: str
    reason: str
    detail: str = ""


def invalid_reason(utt: Utterance, max_duration: float = MAX_DURATION) -> str | None:
    """Why ``utt`` must not enter a manifest, or None when it is valid. Checks the metadata only;
    :func:`audio_problem` checks the audio file itself."""
    if not utt.text or not utt.text.strip():
        return "empty transcript"
    if utt.sample_rate <= 0 or utt.num_samples <= 0:
        return "zero-length audio"
    if utt.duration > max_duration:
        return f"audio longer than {max_duration:g} s"
    if not utt.speaker:
        return "no speaker id"
    if utt.split not in SPLITS:
        return f"unknown split {utt.split!r}"
    for name, value, known in (
        ("gender", utt.gender, GENDERS),
        ("emotion", utt.emotion, EMOTIONS),
        ("age group", utt.age_group, AGE_GROUPS),
    ):
        if value is not None and value not in known:
            return f"unknown {name} label {value!r}"
    previous_end = 0.0
    for w in utt.words:
        if not (math.isfinite(w.start) and math.isfinite(w.end)):
            return f"non-finite word time for {w.text!r}"
        if not w.text.strip():
            return "empty word in alignment"
        if w.start < 0 or w.end > utt.duration + TIME_TOLERANCE:
            return f"word {w.text!r} outside the audio"
        if w.end <= w.start:
            return f"word {w.text!r} has non-positive duration"
        if w.start < previous_end - 1e-5:  # manifests store times to the microsecond
            return f"non-monotonic word times at {w.text!r}"
        previous_end = w.end
    if utt.answer_span is not None:
        first, last = utt.answer_span
        if not (0 <= first < last <= len(utt.words)):
            return f"answer span {utt.answer_span} outside the {len(utt.words)} words"
    if (utt.question is None) != (utt.answer is None):
        return "question without answer or answer without question"
    return None


def audio_problem(path: str | os.PathLike, sample_rate: int | None = None, num_samples: int | None = None):
    """Why the audio file cannot be used (unreadable, corrupt, empty, or not what the manifest says),
    or None. Reads the header, then decodes the file to catch truncated data."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for corrupt or missing files
        return f"unreadable audio: {type(err).__name__}: {str(err)[:120]}"
    if len(data) == 0:
        return "zero-length audio"
    if sample_rate is not None and info.samplerate != sample_rate:
        return f"sample rate {info.samplerate} != manifest {sample_rate}"
    if num_samples is not None and abs(len(data) - num_samples) > 1:
        return f"{len(data)} samples != manifest {num_samples}"
    if not math.isfinite(float(abs(data).max())):
        return "audio contains NaN or infinity"
    return None


def partition(
    utterances: Iterable[Utterance], max_duration: float = MAX_DURATION, check_audio: bool = False
) -> tuple[list[Utterance], list[Rejection]]:
    """Split into valid utterances and rejections with reasons. Duplicate ids are rejected too."""
    kept: list[Utterance] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for utt in utterances:
        reason = invalid_reason(utt, max_duration)
        if reason is None and utt.id in seen:
            reason = "duplicate id"
        if reason is None and check_audio:
            reason = audio_problem(utt.audio_path, utt.sample_rate, utt.num_samples)
        if reason is None:
            kept.append(utt)
            seen.add(utt.id)
        else:
            rejected.append(Rejection(utt.id, utt.source, reason))
    return kept, rejected


def _to_lhotse_pair(utt: Utterance, root: Path | None):
    from lhotse import AudioSource, Recording, SupervisionSegment
    from lhotse.supervision import AlignmentItem

    path = Path(utt.audio_path)
    # a relative path is relative to the working directory: resolve it before testing whether it lies
    # in the (staged) corpus folder, else the staging folder's name would be stored
    if root is not None and path.resolve().is_relative_to(root):
        path = path.resolve().relative_to(root)
    recording = Recording(
        id=utt.id,
        sources=[AudioSource(type="file", channels=[0], source=str(path))],
        sampling_rate=utt.sample_rate,
        num_samples=utt.num_samples,
        duration=utt.duration,
    )
    custom: dict[str, Any] = {"split": utt.split, "source": utt.source}
    for key in ("age_group", "emotion", "prosody_style", "voice", "question", "answer"):
        if getattr(utt, key) is not None:
            custom[key] = getattr(utt, key)
    if utt.answer_span is not None:
        custom["answer_span"] = list(utt.answer_span)
    if utt.extra:
        custom["extra"] = dict(utt.extra)
    alignment = None
    if utt.words:
        alignment = {
            "word": [AlignmentItem(w.text, round(w.start, 6), round(w.end - w.start, 6)) for w in utt.words]
        }
    supervision = SupervisionSegment(
        id=utt.id,
        recording_id=utt.id,
        start=0.0,
        duration=utt.duration,
        channel=0,
        text=utt.text,
        language="English",
        speaker=utt.speaker,
        gender=utt.gender,
        custom=custom,
        alignment=alignment,
    )
    return recording, supervision


def to_lhotse(utterances: Sequence[Utterance], root: str | os.PathLike | None = None):
    """(RecordingSet, SupervisionSet); audio paths under ``root`` are stored relative to it."""
    from lhotse import RecordingSet, SupervisionSet

    root_path = Path(root).resolve() if root is not None else None
    pairs = [_to_lhotse_pair(u, root_path) for u in utterances]
    return (
        RecordingSet.from_recordings(r for r, _ in pairs),
        SupervisionSet.from_segments(s for _, s in pairs),
    )


def from_lhotse(recordings, supervisions, root: str | os.PathLike | None = None) -> list[Utterance]:
    """Typed utterances from lhotse sets; relative audio paths are resolved against ``root``."""
    by_id = {r.id: r for r in recordings}
    utterances = []
    for sup in supervisions:
        rec = by_id.get(sup.recording_id)
        if rec is None:
            raise ManifestError(f"supervision {sup.id} names recording {sup.recording_id}, which is missing")
        path = Path(rec.sources[0].source)
        if root is not None and not path.is_absolute():
            path = Path(root) / path
        custom = dict(sup.custom or {})
        span = custom.get("answer_span")
        words = tuple(
            Word(a.symbol, a.start, round(a.start + a.duration, 6))
            for a in (sup.alignment or {}).get("word", [])
        )
        utterances.append(
            Utterance(
                id=sup.id,
                audio_path=str(path),
                sample_rate=rec.sampling_rate,
                num_samples=rec.num_samples,
                text=sup.text or "",
                speaker=sup.speaker or "",
                split=custom.get("split", ""),
                source=custom.get("source", ""),
                words=words,
                gender=sup.gender,
                age_group=custom.get("age_group"),
                emotion=custom.get("emotion"),
                prosody_style=custom.get("prosody_style"),
                voice=custom.get("voice"),
                question=custom.get("question"),
                answer=custom.get("answer"),
                answer_span=tuple(span) if span is not None else None,
                extra=custom.get("extra", {}),
            )
        )
    return utterances


def write_rejects(path: str | os.PathLike, rejections: Sequence[Rejection]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for r in rejections:
            f.write(
                json.dumps({"id": r.id, "source": r.source, "reason": r.reason, "detail": r.detail}) + "\n"
            )


def read_rejects(folder: str | os.PathLike) -> list[Rejection]:
    path = Path(folder) / REJECTS
    if not path.exists():
        return []
    return [Rejection(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]


def data_card(utterances: Sequence[Utterance], rejections: Sequence[Rejection], name: str) -> dict[str, Any]:
    """Counts, hours, voices and label balance per split, and rejects by reason."""

    def balance(values: Iterable[str | None]) -> dict[str, int]:
        return dict(sorted(Counter(v if v is not None else "unknown" for v in values).items()))

    splits = {}
    for split in sorted({u.split for u in utterances}):
        part = [u for u in utterances if u.split == split]
        splits[split] = {
            "utterances": len(part),
            "hours": round(sum(u.duration for u in part) / 3600, 4),
            "speakers": len({u.speaker for u in part}),
            "gender": balance(u.gender for u in part),
            "emotion": balance(u.emotion for u in part),
            "prosody_style": balance(u.prosody_style for u in part),
        }
    return {
        "corpus": name,
        "utterances": len(utterances),
        "hours": round(sum(u.duration for u in utterances) / 3600, 4),
        "words": sum(len(u.words) for u in utterances),
        "with_word_times": sum(1 for u in utterances if u.words),
        "with_question": sum(1 for u in utterances if u.question is not None),
        "speakers": len({u.speaker for u in utterances}),
        "voices": balance(u.voice for u in utterances),
        "sources": balance(u.source for u in utterances),
        "splits": splits,
        "rejected": len(rejections),
        "rejected_by_reason": balance(r.reason.split(":")[0] for r in rejections),
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """The data card as a short markdown page for results/."""
    lines = [
        f"# Data card: {card['corpus']}",
        "",
        f"- utterances: {card['utterances']} ({card['hours']:.3f} h), speakers: {card['speakers']}",
        # exact for espeak, pocketsphinx forced alignment for piper and real clips
        f"- words with times: {card['words']} in {card['with_word_times']} utterances",
        f"- with question/answer: {card['with_question']}",
        f"- rejected: {card['rejected']} {json.dumps(card['rejected_by_reason'])}",
        f"- sources: {json.dumps(card['sources'])}",
        f"- voices: {json.dumps(card['voices'])}",
        "",
        "| split | utterances | hours | speakers | gender | emotion | prosody style |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, s in card["splits"].items():
        lines.append(
            f"| {split} | {s['utterances']} | {s['hours']:.3f} | {s['speakers']} | {json.dumps(s['gender'])} "
            f"| {json.dumps(s['emotion'])} | {json.dumps(s['prosody_style'])} |"
        )
    if card.get("items"):  # a benchmark corpus: its items per task and subset
        lines += ["", "| task | subset | items |", "|---|---|---|"]
        for task, subsets in card["items"].items():
            lines += [f"| {task} | {subset} | {n} |" for subset, n in subsets.items()]
    return "\n".join(lines) + "\n"


def write_valid_items(
    staged: Path,
    candidates: Sequence[Utterance],
    rejections: Sequence[Rejection],
    corpus: str,
    max_duration: float,
    error: type[Exception],
) -> dict[str, Any]:
    """The common end of every corpus build in the staging folder ``staged``: drop invalid candidates into
    the rejections, delete the audio any rejected item left in ``staged/audio`` (no orphans), refuse a corpus
    with nothing kept (``error``), and write the manifests; return the data card."""
    kept, invalid = partition(candidates, max_duration=max_duration, check_audio=True)
    rejections = [*rejections, *invalid]
    for r in rejections:
        (staged / "audio" / f"{r.id}.flac").unlink(missing_ok=True)
    if not kept:
        raise error(f"{corpus}: every item was rejected; first reasons: {[r.reason for r in rejections[:3]]}")
    return write_manifest_files(staged, kept, rejections, corpus)


def write_manifest_files(
    folder: str | os.PathLike,
    utterances: Sequence[Utterance],
    rejections: Sequence[Rejection] = (),
    name: str | None = None,
) -> dict[str, Any]:
    """Write the manifests, rejects and card into an existing ``folder`` (e.g. a staged corpus
    folder that :func:`speechalign.io.atomic_path` will move into place). Returns the card.

    Raises ManifestError if any utterance is invalid: validate with :func:`partition` first."""
    folder = Path(folder)
    for utt in utterances:
        reason = invalid_reason(utt, max_duration=math.inf)
        if reason is not None:
            raise ManifestError(f"{utt.id}: {reason} (run partition() before writing)")
    if len({u.id for u in utterances}) != len(utterances):
        raise ManifestError("duplicate utterance ids")
    recordings, supervisions = to_lhotse(utterances, root=folder)
    recordings.to_file(folder / RECORDINGS)
    supervisions.to_file(folder / SUPERVISIONS)
    write_rejects(folder / REJECTS, rejections)
    card = data_card(utterances, rejections, name or folder.name)
    write_json(folder / CARD, card)
    return card


def write_manifest(
    folder: str | os.PathLike,
    utterances: Sequence[Utterance],
    rejections: Sequence[Rejection] = (),
    name: str | None = None,
) -> dict[str, Any]:
    """Write a manifest folder whose audio lives elsewhere (absolute paths), atomically."""
    folder = Path(folder)
    with atomic_path(folder) as staged:
        staged.mkdir(parents=True)
        card = write_manifest_files(staged, utterances, rejections, name or folder.name)
    return card


def read_manifest(folder: str | os.PathLike) -> list[Utterance]:
    """The utterances of a manifest folder, audio paths resolved to absolute paths."""
    from lhotse import load_manifest

    folder = Path(folder).resolve()
    for name in (RECORDINGS, SUPERVISIONS):
        if not (folder / name).exists():
            raise ManifestError(f"{folder / name} is missing; build it with `speechalign data build`")
    return from_lhotse(load_manifest(folder / RECORDINGS), load_manifest(folder / SUPERVISIONS), root=folder)


def read_lhotse(folder: str | os.PathLike):
    """(RecordingSet, SupervisionSet) with absolute audio paths, for code that uses lhotse directly."""
    utterances = read_manifest(folder)
    return to_lhotse(utterances)


def with_split(utt: Utterance, split: str) -> Utterance:
    return replace(utt, split=split)


def select_utterances(folder, split: str | None, limit: int | None) -> list:
    """The utterances a stage works on: the manifest's, in one split (or all), sorted by id, the first
    ``limit`` (or all). The ALAS, validity and reference stages call this with the same params, so they see
    the same items."""
    utterances = sorted(read_manifest(folder), key=lambda u: u.id)
    if split:
        utterances = [u for u in utterances if u.split == split]
    return utterances[:limit] if limit else utterances
