"""Minimal valid wheels in a local folder, for provisioning tests (tests/models)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from speechalign.models.lock import Wheel


def build_wheel(folder: Path, package: str, version: str, files: dict[str, bytes]) -> Wheel:
    """A minimal but valid wheel holding ``files``; returns its lock entry."""
    dist = package.replace("-", "_")
    name = f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    metadata = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    members = {**files, **metadata}
    record = "".join(f"{path},,\n" for path in members) + f"{info}/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / name, "w") as zf:
        for path, data in members.items():
            zf.writestr(path, data)
        zf.writestr(f"{info}/RECORD", record)
    sha = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return Wheel(package=package, version=version, file=name, sha256=sha)
