"""Small archives in each corpus's published layout, and malicious or corrupt ones, built by the tests."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf


def flac_bytes(seconds: float = 0.2, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)
    sf.write(buffer, tone.astype(np.float32), rate, format="FLAC")
    return buffer.getvalue()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            add_bytes(tar, name, data)
    return buffer.getvalue()


def librispeech_tar(subset: str, speaker: str = "84", chapter: str = "121123") -> bytes:
    """The openslr layout: LibriSpeech/<subset>/<speaker>/<chapter>/ with flacs and a .trans.txt."""
    base = f"LibriSpeech/{subset}/{speaker}/{chapter}"
    return tar_gz(
        {
            "LibriSpeech/SPEAKERS.TXT": b";ID |SEX| SUBSET |MINUTES| NAME\n84 | F | dev-clean | 8.02 | C\n",
            f"{base}/{speaker}-{chapter}-0000.flac": flac_bytes(),
            f"{base}/{speaker}-{chapter}-0001.flac": flac_bytes(),
            f"{base}/{speaker}-{chapter}.trans.txt": (
                f"{speaker}-{chapter}-0000 GO DO YOU HEAR\n"
                f"{speaker}-{chapter}-0001 BUT IN LESS THAN FIVE MINUTES\n"
            ).encode(),
        }
    )


def traversal_tar() -> bytes:
    return tar_gz({"LibriSpeech/ok.txt": b"fine", "../escaped.txt": b"evil"})


def absolute_tar() -> bytes:
    return tar_gz({"LibriSpeech/ok.txt": b"fine", "/tmp/speechalign-absolute.txt": b"evil"})


def link_outside_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add_bytes(tar, "LibriSpeech/ok.txt", b"fine")
        link = tarfile.TarInfo("LibriSpeech/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../../etc/passwd"
        tar.addfile(link)
    return buffer.getvalue()


def corrupt_tar() -> bytes:
    """A real archive cut short: the first members are readable, the rest is missing."""
    whole = librispeech_tar("dev-clean")
    return whole[: len(whole) // 2]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative, for comparing folder contents."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
