"""Safe, atomic extraction of tar and zip archives.

Every member is checked before anything is written: no absolute paths, no ``..``, no links that point
outside the extraction folder, no devices. The archive is unpacked into a temporary folder beside the
target and its top-level entries are moved into place only once everything was read, so a corrupt or
malicious archive leaves no half-extracted data. Folders already in the target (several LibriSpeech
subsets share ``LibriSpeech/``) are merged entry by entry, each move one rename.

    >>> extract_archive(Path("dev-clean.tar.gz"), Path("data/raw/librispeech"))   # doctest: +SKIP
    ['LibriSpeech/dev-clean', ...]
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from speechalign.errors import UserFacingError


class ExtractError(UserFacingError):
    """An archive is corrupt or unsafe; nothing of it was extracted."""


def member_path_problem(name: str) -> str | None:
    """Why a member name is unsafe, or None."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        return "absolute path"
    if ".." in path.parts:
        return "path traversal ('..')"
    return None


def link_target_problem(member: tarfile.TarInfo) -> str | None:
    """Why a tar link is unsafe: its target must stay inside the extraction folder."""
    if member.issym():
        target = PurePosixPath(member.name).parent / member.linkname
    else:  # hard links name a path from the archive root
        target = PurePosixPath(member.linkname)
    if PurePosixPath(member.linkname).is_absolute():
        return f"link to an absolute path ({member.linkname})"
    depth = 0
    for part in target.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"link pointing outside the archive ({member.linkname})"
    return None


def check_tar_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        problem = member_path_problem(member.name)
        if problem is None and (member.issym() or member.islnk()):
            problem = link_target_problem(member)
        if problem is None and not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            problem = "device, fifo or other special file"
        if problem:
            raise ExtractError(
                f"{archive.name}: unsafe member {member.name!r}: {problem}; nothing was extracted"
            )


def check_zip_members(archive: Path, infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        problem = member_path_problem(info.filename)
        if problem is None and stat.S_ISLNK(info.external_attr >> 16):
            problem = "symbolic link (not supported in zip archives)"
        if problem:
            raise ExtractError(
                f"{archive.name}: unsafe member {info.filename!r}: {problem}; nothing was extracted"
            )


def unpack_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()  # reads the whole archive: a truncated or corrupt one fails here
        check_tar_members(archive, members)
        tar.extractall(into, members=members, filter="data")  # "data": also refuses what we missed


def unpack_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        check_zip_members(archive, infos)
        bad = zf.testzip()  # CRC of every member before anything is written
        if bad is not None:
            raise ExtractError(f"{archive.name}: member {bad!r} fails its CRC check; nothing was extracted")
        zf.extractall(into)


def merge_into(staged: Path, target: Path) -> list[str]:
    """Move ``staged``'s entries into ``target``: new entries in one rename each; existing folders merged."""
    moved = []
    for entry in sorted(staged.iterdir()):
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink() and destination.is_dir():
            moved += [f"{entry.name}/{m}" for m in merge_into(entry, destination)]
            continue
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        os.replace(entry, destination)
        moved.append(entry.name)
    return moved


def extract_archive(archive: Path, target: Path) -> list[str]:
    """Unpack ``archive`` (tar, tar.gz/bz2/xz, zip) into ``target``; return the paths moved into place."""
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".extract-{archive.name}.", dir=target))
    try:
        try:
            if zipfile.is_zipfile(archive):
                unpack_zip(archive, staging)
            else:
                unpack_tar(archive, staging)
        except ExtractError:
            raise
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
            raise ExtractError(
                f"{archive.name} is corrupt or not a tar/zip archive ({type(err).__name__}: {err}); "
                f"nothing was extracted."
            ) from err
        return merge_into(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
