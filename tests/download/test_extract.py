"""Safe, atomic extraction: bad archives leave no trace; good ones merge into the corpus folder."""

from __future__ import annotations

import pytest
from archives import (
    absolute_tar,
    corrupt_tar,
    librispeech_tar,
    link_outside_tar,
    traversal_tar,
    tree,
    zip_bytes,
)

from speechalign.download.extract import ExtractError, extract_archive


def write(path, data):
    path.write_bytes(data)
    return path


def test_two_subsets_merge_under_one_librispeech_folder(tmp_path):
    target = tmp_path / "librispeech"
    extract_archive(write(tmp_path / "dev.tar.gz", librispeech_tar("dev-clean")), target)
    moved = extract_archive(write(tmp_path / "test.tar.gz", librispeech_tar("test-clean")), target)
    assert "LibriSpeech/test-clean" in moved
    for subset in ("dev-clean", "test-clean"):
        chapter = target / "LibriSpeech" / subset / "84" / "121123"
        assert (chapter / "84-121123.trans.txt").is_file()
        assert (chapter / "84-121123-0001.flac").is_file()
    assert not list(target.glob(".extract-*"))


@pytest.mark.parametrize(
    "make, reason",
    [
        (traversal_tar, "path traversal"),
        (absolute_tar, "absolute path"),
        (link_outside_tar, "link pointing outside"),
    ],
)
def test_unsafe_tar_is_rejected_and_leaves_nothing(tmp_path, make, reason):
    target = tmp_path / "corpus"
    target.mkdir()
    (target / "already-here.txt").write_text("kept")
    with pytest.raises(ExtractError, match=reason):
        extract_archive(write(tmp_path / "bad.tar.gz", make()), target)
    assert tree(target) == {"already-here.txt"}
    assert not (tmp_path / "escaped.txt").exists()


def test_corrupt_archive_is_rejected_and_leaves_nothing(tmp_path):
    target = tmp_path / "corpus"
    with pytest.raises(ExtractError, match="corrupt.*nothing was extracted"):
        extract_archive(write(tmp_path / "cut.tar.gz", corrupt_tar()), target)
    assert tree(target) == set()


def test_zip_extracts_and_traversal_in_zip_is_rejected(tmp_path):
    good = write(tmp_path / "good.zip", zip_bytes({"cv-corpus-1/en/validated.tsv": b"path\tsentence\n"}))
    extract_archive(good, tmp_path / "a")
    assert (tmp_path / "a" / "cv-corpus-1" / "en" / "validated.tsv").is_file()
    bad = write(tmp_path / "bad.zip", zip_bytes({"ok.txt": b"x", "../../escaped.txt": b"evil"}))
    with pytest.raises(ExtractError, match="path traversal"):
        extract_archive(bad, tmp_path / "b")
    assert tree(tmp_path / "b") == set()
