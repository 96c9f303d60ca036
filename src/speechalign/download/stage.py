"""One corpus from the lock into ``data/raw/<corpus>/``, in the corpus's published layout, with a marker.

The marker ``data/raw/<corpus>/DOWNLOADED.json`` is written last (atomically): its presence means the
folder is complete. It lists every file with the checksum the lock expected and the sha256 observed, and
names the unpinned files. Per-file stamps under ``.done/`` let a rerun after a failure skip what is done.

    >>> download_corpus(lock["librispeech"], Path("data/raw/librispeech"), settings)   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from speechalign.download.extract import ExtractError, extract_archive
from speechalign.download.http import Timeouts, fetch, file_digest, preflight
from speechalign.download.lock import CorpusSpec, FileSpec, LockError, safe_relative
from speechalign.errors import UserFacingError
from speechalign.io import write_json

log = logging.getLogger(__name__)

MARKER = "DOWNLOADED.json"
STAMPS = ".done"
IEMOCAP_SESSIONS = tuple(f"Session{i}" for i in range(1, 6))
IEMOCAP_FOLDER = "IEMOCAP_full_release"
UNPINNED_WARNING = (
    "UNPINNED: %s has no published checksum in corpora.lock.yaml; recorded the sha256 observed now "
    "(%s) in %s. Later downloads are compared with nothing: check it against the publisher if it matters."
)


@dataclass(frozen=True)
class Settings:
    """What the `download` params section decides for one corpus."""

    cache: Path = Path("data/cache/downloads")  # archives while they are fetched and unpacked
    timeouts: Timeouts = Timeouts()
    retries: int = 3
    keep_archives: bool = False
    subsets: list[str] | None = None  # None: every file of the entry
    iemocap_path: str = f"data/raw/iemocap/{IEMOCAP_FOLDER}"
    commonvoice_archive: str | None = None
    commonvoice_sha256: str | None = None


class MissingLocalCopy(UserFacingError):
    """A licence-gated or user-supplied corpus is not where params say it is."""


def settings_from_params(corpus: str, params: Mapping[str, Any], cache: str | os.PathLike) -> Settings:
    subsets = {"librispeech": params["librispeech_subsets"], "voicebench": params["voicebench_subsets"]}
    return Settings(
        cache=Path(cache),
        timeouts=Timeouts(connect=params["connect_timeout_s"], read=params["read_timeout_s"]),
        retries=params["retries"],
        keep_archives=params["keep_archives"],
        subsets=subsets.get(corpus),
        iemocap_path=params["iemocap_path"],
        commonvoice_archive=params["commonvoice_archive"],
        commonvoice_sha256=params["commonvoice_sha256"],
    )


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def preflight_hosts(urls: list[str], timeout: float) -> None:
    """Fail fast, before any transfer starts, if a host is unreachable."""
    seen = set()
    for url in urls:
        host = urlsplit(url).netloc
        if host not in seen:
            seen.add(host)
            preflight(url, timeout)


def stamp_path(root: Path, spec: FileSpec) -> Path:
    return root / STAMPS / (spec.path.replace("/", "__") + ".json")


def read_stamp(root: Path, spec: FileSpec) -> dict[str, Any] | None:
    """The record of a file already fetched (and unpacked) for this very lock entry, else None."""
    path = stamp_path(root, spec)
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("url") != spec.url or record.get("checksum") != spec.checksum:
        return None  # the lock changed: fetch again
    return record


def file_record(spec: FileSpec, sha256: str, extracted: list[str] | None) -> dict[str, Any]:
    record = {
        "path": spec.path,
        "url": spec.url,
        "size": spec.size,
        "checksum": spec.checksum,
        "sha256_observed": sha256,
        "pinned": spec.pinned,
    }
    if extracted is not None:
        record["extracted"] = extracted
    return record


def fetch_one(spec: FileSpec, root: Path, corpus: str, settings: Settings) -> dict[str, Any]:
    """Fetch (and unpack) one lock file unless its stamp says it is done; return its record."""
    done = read_stamp(root, spec)
    if done is not None:
        log.info("%s/%s: already fetched, skipping", corpus, spec.path)
        return done
    destination = (settings.cache / corpus / spec.path) if spec.extract else (root / spec.path)
    sha256 = fetch(
        spec.url,
        destination,
        size=spec.size,
        checksum=spec.checksum,
        timeouts=settings.timeouts,
        retries=settings.retries,
        label=f"{corpus}/{spec.path}",
    )
    if not spec.pinned:
        log.warning(UNPINNED_WARNING, f"{corpus}/{spec.path}", sha256, root / MARKER)
    extracted = None
    if spec.extract:
        try:
            extracted = extract_archive(destination, root)
        except ExtractError as err:
            destination.unlink(missing_ok=True)  # so that a rerun fetches it afresh
            raise ExtractError(
                f"{corpus}: {err} The archive was deleted; rerun to download it again. If this repeats with "
                f"a pinned checksum, the lock entry does not describe a valid archive: report it."
            ) from err
        if not settings.keep_archives:
            destination.unlink()
    record = file_record(spec, sha256, extracted)
    write_json(stamp_path(root, spec), record)
    return record


def listing_rows(path: Path) -> list[Mapping[str, Any]]:
    """Records of a listing file: CSV rows, or a JSON list of objects (or an object of objects)."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = list(data.values()) if isinstance(data, dict) else data
    if not all(isinstance(r, Mapping) for r in rows):
        raise LockError(f"{path}: a listing must hold records (objects or CSV rows)")
    return rows


def listed_files(spec: CorpusSpec, root: Path) -> Iterator[tuple[str, str]]:
    """(url, relative path) of every file a corpus's listing names, in order, without duplicates."""
    assert spec.listing is not None
    seen = set()
    for i, row in enumerate(listing_rows(root / spec.listing.source)):
        try:
            url = spec.listing.url.format(**row)
            path = spec.listing.path.format(**row)
        except KeyError as err:
            raise LockError(
                f"{spec.name}: record {i} of {spec.listing.source} has no field {err}; the lock's listing "
                f"template does not fit this release (fields: {sorted(row)})"
            ) from err
        path = safe_relative(path, f"{spec.name}: listing record {i}")
        if path not in seen:
            seen.add(path)
            yield url, path


def fetch_listing(spec: CorpusSpec, root: Path, settings: Settings) -> dict[str, Any]:
    """Fetch every listed file not yet in place (a file appears only once complete); record its sha256."""
    from tqdm import tqdm

    entries = list(listed_files(spec, root))
    observed = {}
    for url, path in tqdm(entries, desc=f"{spec.name} files", unit="file", mininterval=2):
        target = root / path
        if target.is_file():
            observed[path] = file_digest(target, "sha256")
            continue
        observed[path] = fetch(
            url, target, timeouts=settings.timeouts, retries=settings.retries, label=path, progress=False
        )
    log.warning(
        "UNPINNED: the %d files listed in %s/%s have no published checksums; their observed sha256s are "
        "recorded in %s",
        len(entries),
        spec.name,
        spec.listing.source,
        root / MARKER,
    )
    return {"from": spec.listing.source, "count": len(entries), "sha256_observed": observed}


def remove_stale_staging(root: Path) -> None:
    """An interrupted extraction leaves a `.extract-*` folder; it holds nothing worth keeping."""
    for stale in root.glob(".extract-*"):
        shutil.rmtree(stale, ignore_errors=True)


def download_files(spec: CorpusSpec, root: Path, settings: Settings) -> dict[str, Any]:
    files = spec.selected(settings.subsets)
    pending = [f for f in files if read_stamp(root, f) is None]
    preflight_hosts([f.url for f in pending], settings.timeouts.connect)
    remove_stale_staging(root)
    records = [fetch_one(f, root, spec.name, settings) for f in files]
    result: dict[str, Any] = {"files": records}
    if spec.listing is not None:
        result["listing"] = fetch_listing(spec, root, settings)
    return result


def iemocap_problems(folder: Path) -> list[str]:
    """What is missing from an IEMOCAP_full_release folder (empty: the layout is right)."""
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    problems = []
    for session in IEMOCAP_SESSIONS:
        for sub in ("sentences/wav", "dialog/EmoEvaluation", "dialog/transcriptions"):
            if not (folder / session / sub).is_dir():
                problems.append(f"{session}/{sub} missing")
    return problems


def register_iemocap(spec: CorpusSpec, root: Path, settings: Settings) -> dict[str, Any]:
    """Check the user's licensed copy and expose it at data/raw/iemocap/IEMOCAP_full_release."""
    folder = Path(settings.iemocap_path)
    problems = iemocap_problems(folder)
    if problems:
        raise MissingLocalCopy(
            f"IEMOCAP is licence-gated and cannot be downloaded by the pipeline: {'; '.join(problems[:3])}. "
            f"Request the release at {spec.homepage} (it comes by e-mail after you sign the release form), "
            f"unpack it, and put {IEMOCAP_FOLDER}/ (Session1..Session5) at {root / IEMOCAP_FOLDER} or set "
            f"params download.iemocap_path to its folder; then rerun."
        )
    standard = root / IEMOCAP_FOLDER
    if folder.resolve() != standard.resolve():
        root.mkdir(parents=True, exist_ok=True)
        if standard.is_symlink():
            standard.unlink()
        standard.symlink_to(folder.resolve(), target_is_directory=True)  # loaders read the standard place
    wavs = {s: sum(1 for _ in (folder / s / "sentences" / "wav").rglob("*.wav")) for s in IEMOCAP_SESSIONS}
    return {"local_copy": str(folder.resolve()), "linked_as": str(standard), "wav_files": wavs}


def register_commonvoice(spec: CorpusSpec, root: Path, settings: Settings) -> dict[str, Any]:
    """Fetch (URL) or take (path) the user's Common Voice release archive and unpack it into ``root``."""
    location = settings.commonvoice_archive
    if not location:
        raise MissingLocalCopy(
            f"Common Voice needs a release archive: download one at {spec.homepage} (an e-mail form gates "
            f"it) and set params download.commonvoice_archive to its local path or URL "
            f"(and download.commonvoice_sha256 to pin it); then rerun."
        )
    checksum = f"sha256:{settings.commonvoice_sha256}" if settings.commonvoice_sha256 else None
    if is_url(location):
        preflight_hosts([location], settings.timeouts.connect)
        archive = settings.cache / spec.name / Path(urlsplit(location).path).name
        sha256 = fetch(
            location, archive, checksum=checksum, timeouts=settings.timeouts, retries=settings.retries
        )
    else:
        archive = Path(location)
        if not archive.is_file():
            raise MissingLocalCopy(f"download.commonvoice_archive: {archive} is not a file")
        sha256 = file_digest(archive, "sha256")
        if checksum and sha256 != settings.commonvoice_sha256:
            raise UserFacingError(
                f"{archive}: sha256 {sha256} differs from download.commonvoice_sha256 "
                f"{settings.commonvoice_sha256}; the archive is corrupt or a different release"
            )
    if checksum is None:
        log.warning(UNPINNED_WARNING, f"commonvoice archive {location}", sha256, root / MARKER)
    remove_stale_staging(root)
    extracted = extract_archive(archive, root)
    if is_url(location) and not settings.keep_archives:
        archive.unlink()
    return {
        "archive": location,
        "sha256_observed": sha256,
        "pinned": checksum is not None,
        "extracted": extracted,
    }


def unpinned_paths(result: Mapping[str, Any]) -> list[str]:
    paths = [r["path"] for r in result.get("files", []) if not r["pinned"]]
    if "listing" in result:
        paths.append(f"{result['listing']['count']} files listed in {result['listing']['from']}")
    if result.get("pinned") is False:
        paths.append(result["archive"])
    return paths


def download_corpus(spec: CorpusSpec, root: Path, settings: Settings) -> dict[str, Any]:
    """Fetch or register ``spec`` into ``root`` and write its marker; return the marker's content."""
    if spec.kind == "files":
        result = download_files(spec, root, settings)
    elif spec.kind == "local":
        result = register_iemocap(spec, root, settings)
    else:
        result = register_commonvoice(spec, root, settings)
    marker = {
        "corpus": spec.name,
        "licence": spec.licence,
        "homepage": spec.homepage,
        "kind": spec.kind,
        **result,
        "unpinned": unpinned_paths(result),
    }
    if marker["unpinned"]:
        log.warning("%s: %d unpinned item(s): %s", spec.name, len(marker["unpinned"]), marker["unpinned"])
    write_json(root / MARKER, marker)
    return marker


def write_index(markers: list[Path], out: Path) -> dict[str, Any]:
    """data/raw/corpora.json: what the active profile fetched or registered (empty: embedded default)."""
    corpora = {}
    for path in markers:
        marker = json.loads(Path(path).read_text(encoding="utf-8"))
        corpora[marker["corpus"]] = {
            "marker": str(path),
            "licence": marker["licence"],
            "unpinned": marker["unpinned"],
        }
    index = {"corpora": corpora}
    write_json(out, index)
    return index
