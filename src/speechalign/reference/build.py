"""Reference word times for a whole corpus, written as one jsonl.gz per (aligner, corpus) that the ALAS
scoring stage reads.

One JSON object per utterance::

    {"id": "sqa-00003", "aligner": "whisper-timestamped", "model": "whisper-base",
     "speaker": "espeak-klatt4", "voice": "en-us+klatt4", "duration": 21.4,
     "words": [{"text": "Mary", "start": 0.0, "end": 0.26, "flag": "matched"}, ...],   # transcript words
     "recognised": "Mary Smith is 42 ...", "counts": {"substitutions": 1, "deletions": 0,
     "insertions": 0, "reference_words": 57}, "wer": 0.0175, "interpolated": 0,
     "normalisation": "lower+punctuation+hyphens+numbers-spelled", "error": null}

``words`` are the transcript's words (the manifest's word list, so indices agree with the exact times)
with ``flag`` matched | substituted | interpolated, or ``exact`` for the oracle.

    >>> refs = read_reference("data/reference/whisper-timestamped/sqa.jsonl.gz")   # doctest: +SKIP
    >>> refs["sqa-00003"].words[0]                                                 # doctest: +SKIP
    TimedWord(text='Mary', start=0.0, end=0.26, flag='matched')
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from speechalign.data.manifest import Utterance
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path
from speechalign.reference.aligners import ALIGNERS, ORACLE, AlignerSettings, align
from speechalign.reference.matching import EXACT, ErrorCounts, MatchResult, TimedWord, match_words
from speechalign.reference.normalise import NORMALISATION, normalise_words

log = logging.getLogger(__name__)

REFERENCES = (*ALIGNERS, ORACLE)
_SPOKEN = re.compile(r"[A-Za-z0-9]")


class ReferenceError(UserFacingError):
    """A reference file cannot be built or read."""


@dataclass(frozen=True)
class ReferenceRecord:
    id: str
    aligner: str
    words: tuple[TimedWord, ...]
    counts: ErrorCounts
    recognised: str
    duration: float
    speaker: str = ""
    voice: str | None = None
    error: str | None = None

    @property
    def wer(self) -> float:
        return self.counts.wer


def transcript_words(utt: Utterance) -> list[str]:
    """The manifest's word list when it has one (its indices match the exact times), else the
    transcript's whitespace tokens that hold a letter or digit."""
    if utt.words:
        return [w.text for w in utt.words]
    return [t for t in utt.text.split() if _SPOKEN.search(t)]


def load_audio(utt: Utterance):
    import soundfile as sf

    try:
        audio, rate = sf.read(utt.audio_path, dtype="float32", always_2d=False)
    except Exception as err:  # soundfile raises several types for missing or corrupt files
        raise ReferenceError(f"{utt.id}: cannot read {utt.audio_path}: {err}") from err
    return audio, rate


def oracle_match(utt: Utterance) -> MatchResult:
    if not utt.words:
        raise ReferenceError(
            f"{utt.id} has no exact word times: the oracle reference needs a synthesised corpus"
        )
    words = tuple(TimedWord(w.text, w.start, w.end, EXACT) for w in utt.words)
    n = len(normalise_words([w.text for w in utt.words]))
    return MatchResult(words, ErrorCounts(reference_words=n))


def reference_record(utt: Utterance, aligner: str, settings: AlignerSettings) -> ReferenceRecord:
    """Align one utterance and carry the times over to its transcript words."""
    words = transcript_words(utt)
    if aligner == ORACLE:
        match = oracle_match(utt)
        return ReferenceRecord(utt.id, aligner, match.words, match.counts, utt.text, utt.duration,
                               utt.speaker, utt.voice)  # fmt: skip
    audio, rate = load_audio(utt)
    duration = len(audio) / rate
    result = align(aligner, audio, rate, " ".join(words), settings)
    match = match_words(words, result.words, duration)
    return ReferenceRecord(utt.id, aligner, match.words, match.counts, result.text, duration,
                           utt.speaker, utt.voice, result.error)  # fmt: skip


def record_json(record: ReferenceRecord, model: str | None) -> dict[str, Any]:
    counts = record.counts
    return {
        "id": record.id,
        "aligner": record.aligner,
        "model": model,
        "speaker": record.speaker,
        "voice": record.voice,
        "duration": round(record.duration, 6),
        "words": [
            {"text": w.text, "start": round(w.start, 6), "end": round(w.end, 6), "flag": w.flag}
            for w in record.words
        ],
        "recognised": record.recognised,
        "counts": {
            "substitutions": counts.substitutions,
            "deletions": counts.deletions,
            "insertions": counts.insertions,
            "reference_words": counts.reference_words,
        },
        "wer": round(counts.wer, 6),
        "interpolated": sum(w.flag == "interpolated" for w in record.words),
        "normalisation": NORMALISATION,
        "error": record.error,
    }


def record_from_json(obj: dict[str, Any]) -> ReferenceRecord:
    return ReferenceRecord(
        id=obj["id"],
        aligner=obj["aligner"],
        words=tuple(TimedWord(w["text"], w["start"], w["end"], w["flag"]) for w in obj["words"]),
        counts=ErrorCounts(**obj["counts"]),
        recognised=obj["recognised"],
        duration=obj["duration"],
        speaker=obj.get("speaker", ""),
        voice=obj.get("voice"),
        error=obj.get("error"),
    )


def write_reference(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as f:
        for obj in records:
            f.write(json.dumps(obj, sort_keys=True) + "\n")


def read_reference(path: str | os.PathLike) -> dict[str, ReferenceRecord]:
    """Records by utterance id."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            records = [record_from_json(json.loads(line)) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError, KeyError) as err:
        raise ReferenceError(
            f"cannot read reference file {path}: {err}; rebuild it (snakemake reference)"
        ) from err
    return {r.id: r for r in records}


def build_reference(
    utterances: Sequence[Utterance], aligner: str, settings: AlignerSettings, out: str | os.PathLike
) -> dict[str, Any]:
    """Write the reference file for ``utterances``; return a summary (corpus WER from summed counts)."""
    from tqdm import tqdm

    if aligner not in REFERENCES:
        raise ReferenceError(f"unknown reference {aligner!r}; known: {', '.join(REFERENCES)}")
    model = settings.whisper if aligner in ("whisper-timestamped", "hf-whisper", "faster-whisper") else None
    records = [
        reference_record(u, aligner, settings)
        for u in tqdm(utterances, desc=f"reference {aligner}", unit="utt", mininterval=5)
    ]
    write_reference(out, (record_json(r, model) for r in records))
    total = sum((r.counts for r in records), ErrorCounts())
    summary = {
        "aligner": aligner,
        "utterances": len(records),
        "wer": total.wer,
        "interpolated": sum(w.flag == "interpolated" for r in records for w in r.words),
        "words": sum(len(r.words) for r in records),
        "errors": sum(r.error is not None for r in records),
    }
    log.info("%s", summary)
    return summary
