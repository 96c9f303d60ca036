"""``corpora.lock.yaml``: every corpus the download stage handles, with its pinned sources.

>>> lock = read_lock("corpora.lock.yaml")            # doctest: +SKIP
>>> lock["librispeech"].files[0].checksum
'md5:42e2234ba48799c1f50f24a7926300a1'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from speechalign.errors import UserFacingError

KINDS = ("files", "local", "user-archive")
HEX = re.compile(r"[0-9a-f]+")
DIGEST_LENGTH = {"md5": 32, "sha256": 64}


class LockError(UserFacingError):
    """corpora.lock.yaml is missing, malformed, or has no such entry."""


@dataclass(frozen=True)
class FileSpec:
    url: str
    path: str  # where it lands under data/raw/<corpus>/ (an archive: where it is kept while unpacking)
    size: int | None = None
    checksum: str | None = None  # "md5:<hex>" or "sha256:<hex>"; None: unpinned
    extract: bool = False
    subset: str | None = None
    note: str | None = None

    @property
    def pinned(self) -> bool:
        return self.checksum is not None


@dataclass(frozen=True)
class Listing:
    """A file of the entry (CSV rows or JSON records) naming further files, by format templates."""

    source: str
    url: str
    path: str


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    kind: str
    licence: str
    homepage: str
    approx_size: str
    note: str = ""
    files: tuple[FileSpec, ...] = ()
    listing: Listing | None = None

    def selected(self, subsets: list[str] | None) -> tuple[FileSpec, ...]:
        """The files to fetch: those of the chosen subsets (None or untagged files: all)."""
        if subsets is None:
            return self.files
        unknown = set(subsets) - {f.subset for f in self.files}
        if unknown:
            known = sorted({f.subset for f in self.files if f.subset})
            raise LockError(f"{self.name}: unknown subsets {sorted(unknown)}; known: {', '.join(known)}")
        return tuple(f for f in self.files if f.subset is None or f.subset in subsets)


def safe_relative(path: str, where: str) -> str:
    """Reject lock paths that would land outside the corpus folder."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise LockError(f"{where}: path {path!r} must be relative and stay inside the corpus folder")
    return str(p)


def parse_file(raw: Mapping[str, Any], where: str) -> FileSpec:
    missing = {"url", "path"} - set(raw)
    if missing:
        raise LockError(f"{where}: missing {sorted(missing)}")
    checksum = raw.get("checksum")
    if checksum is not None:
        algo, _, digest = str(checksum).partition(":")
        if DIGEST_LENGTH.get(algo) != len(digest) or not HEX.fullmatch(digest):
            raise LockError(f"{where}: checksum {checksum!r} is not 'md5:<32 hex>' or 'sha256:<64 hex>'")
    return FileSpec(
        url=str(raw["url"]),
        path=safe_relative(str(raw["path"]), where),
        size=raw.get("size"),
        checksum=checksum,
        extract=bool(raw.get("extract", False)),
        subset=raw.get("subset"),
        note=raw.get("note"),
    )


def parse_corpus(name: str, raw: Mapping[str, Any]) -> CorpusSpec:
    where = f"corpora.lock.yaml: {name}"
    if raw.get("kind") not in KINDS:
        raise LockError(f"{where}: kind must be one of {KINDS}, got {raw.get('kind')!r}")
    files = tuple(parse_file(f, f"{where}: file {i}") for i, f in enumerate(raw.get("files") or []))
    listing = None
    if raw.get("listing"):
        lst = raw["listing"]
        listing = Listing(source=str(lst["from"]), url=str(lst["url"]), path=str(lst["path"]))
        if listing.source not in {f.path for f in files}:
            raise LockError(f"{where}: listing.from {listing.source!r} is not one of the entry's files")
    return CorpusSpec(
        name=name,
        kind=raw["kind"],
        licence=str(raw.get("licence", "")),
        homepage=str(raw.get("homepage", "")),
        approx_size=str(raw.get("approx_size", "")),
        note=str(raw.get("note", "")).strip(),
        files=files,
        listing=listing,
    )


def read_lock(path: str | os.PathLike) -> dict[str, CorpusSpec]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError as err:
        raise LockError(f"{path}: corpus lock file not found") from err
    except yaml.YAMLError as err:
        raise LockError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("corpora"), dict):
        raise LockError(f"{path}: expected `version: 1` and a `corpora:` mapping")
    return {name: parse_corpus(name, raw) for name, raw in data["corpora"].items()}


def corpus_spec(lock: Mapping[str, CorpusSpec], name: str) -> CorpusSpec:
    if name not in lock:
        raise LockError(f"no corpus {name!r} in the lock; known: {', '.join(sorted(lock))}")
    return lock[name]
