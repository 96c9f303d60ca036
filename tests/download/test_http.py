"""Resumable, verified transfers against a real local HTTP server."""

from __future__ import annotations

import hashlib

import pytest

from speechalign.download.http import (
    ChecksumError,
    DownloadError,
    OfflineError,
    Timeouts,
    fetch,
    preflight,
)

BODY = bytes(range(256)) * 400  # 102,400 bytes


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def test_fetch_verifies_and_renames_into_place(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY)
    dest = tmp_path / "a.bin"
    sha = fetch(url, dest, size=len(BODY), checksum=md5(BODY))
    assert dest.read_bytes() == BODY
    assert sha == hashlib.sha256(BODY).hexdigest()
    assert not (tmp_path / "a.bin.part").exists()


def test_checksum_mismatch_keeps_nothing(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY)
    with pytest.raises(ChecksumError, match="md5 mismatch.*Nothing was kept"):
        fetch(url, tmp_path / "a.bin", checksum=md5(b"something else"))
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_is_reported(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY + b"extra")
    with pytest.raises(ChecksumError, match="size mismatch"):
        fetch(url, tmp_path / "a.bin", size=len(BODY))
    assert not (tmp_path / "a.bin").exists()


def test_truncated_transfer_keeps_the_part_and_a_rerun_resumes_with_range(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY, truncate_at=30_000)
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="truncated transfer|interrupted"):
        fetch(url, dest, checksum=md5(BODY), retries=0)
    part = tmp_path / "a.bin.part"
    assert part.stat().st_size == 30_000 and not dest.exists()
    fetch(url, dest, checksum=md5(BODY), retries=0)
    assert dest.read_bytes() == BODY
    assert http_server.requests[-1] == ("/a.bin", "bytes=30000-")


def test_retries_resume_automatically(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY, truncate_at=10_000, truncations=2)
    fetch(url, tmp_path / "a.bin", size=len(BODY), checksum=md5(BODY), retries=2)
    assert (tmp_path / "a.bin").read_bytes() == BODY
    assert [r for _, r in http_server.requests] == [None, "bytes=10000-", "bytes=20000-"]


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY, ignore_range=True)
    (tmp_path / "a.bin.part").write_bytes(b"\xff" * 5000)  # a stale partial that must not be kept
    fetch(url, tmp_path / "a.bin", checksum=md5(BODY))
    assert (tmp_path / "a.bin").read_bytes() == BODY
    assert http_server.requests == [("/a.bin", "bytes=5000-")]


def test_stalled_server_gives_a_clear_timeout_error(http_server, tmp_path):
    url = http_server.serve("/a.bin", BODY, stall_after=1000)
    with pytest.raises(DownloadError, match="stalled"):
        fetch(url, tmp_path / "a.bin", timeouts=Timeouts(connect=1, read=0.3), retries=0)
    assert not (tmp_path / "a.bin").exists()


def test_http_error_is_reported(http_server, tmp_path):
    url = http_server.serve("/gone", b"", status=404)
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(url, tmp_path / "gone", retries=0)


def test_preflight_refused_connection_fails_clearly(closed_port_url):
    with pytest.raises(OfflineError, match="cannot connect to 127.0.0.1"):
        preflight(closed_port_url, timeout=1)


def test_preflight_unresolvable_host_fails_clearly():
    with pytest.raises(OfflineError, match="cannot resolve no-such-host.invalid"):
        preflight("https://no-such-host.invalid/x.tar.gz", timeout=1)


def test_preflight_passes_for_a_listening_server(http_server):
    preflight(http_server.base + "/anything", timeout=1)
