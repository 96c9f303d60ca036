"""Resumable HTTP(S) downloads with the standard library, verified before anything is kept.

A transfer writes ``<dest>.part``; a rerun asks the server for the missing bytes (``Range``) and starts
from zero when the server ignores it. Connect and read timeouts turn a stalled server into a clear error.
Only a file whose size and checksum match the lock is renamed onto ``dest``; a mismatch deletes the
partial file, so a corrupt download is never kept or resumed.

    >>> fetch("https://www.openslr.org/resources/12/dev-clean.tar.gz", Path("dev-clean.tar.gz"),
    ...       size=337926286, checksum="md5:42e2234ba48799c1f50f24a7926300a1")   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from speechalign.errors import UserFacingError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = "speechalign-download/1 (+https://github.com/; research pipeline)"


class DownloadError(UserFacingError):
    """A transfer failed; the message says whether the partial file was kept for a resume."""


class ChecksumError(DownloadError):
    """A complete download does not match the lock's size or checksum; nothing was kept."""


class OfflineError(DownloadError):
    """The host cannot be reached (no network, DNS failure, refused or timed-out connection)."""


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0  # seconds for DNS + TCP connect in the preflight
    read: float = 60.0  # seconds without a byte before a transfer counts as stalled


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def proxied_endpoint(url: str) -> tuple[str, int]:
    """The host and port a request to ``url`` really connects to (the proxy, if the environment sets one)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = None if urllib.request.proxy_bypass(parts.hostname or "") else proxies.get(parts.scheme)
    target = urlsplit(proxy if "://" in (proxy or "") else f"http://{proxy}") if proxy else parts
    default_port = 443 if target.scheme == "https" else 80
    return target.hostname or "", target.port or default_port


def resolve_with_timeout(host: str, port: int, timeout: float) -> list:
    """getaddrinfo has no timeout of its own: run it in a daemon thread and stop waiting after ``timeout``."""
    result: dict[str, object] = {}

    def lookup() -> None:
        try:
            result["addrs"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            result["error"] = err

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise OfflineError(f"cannot resolve {host}: no DNS answer within {timeout:g} s (offline?)")
    if "error" in result:
        raise OfflineError(f"cannot resolve {host}: {result['error']} (offline?)")
    return result["addrs"]  # type: ignore[return-value]


def preflight(url: str, timeout: float) -> None:
    """Fail within about ``2 * timeout`` seconds, with a clear message, when ``url``'s host is unreachable."""
    host, port = proxied_endpoint(url)
    if not host:
        raise DownloadError(f"{url}: not an http(s) URL")
    addrs = resolve_with_timeout(host, port, timeout)
    errors = []
    for family, kind, proto, _, address in addrs[:4]:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
                return
        except OSError as err:
            errors.append(f"{address[0]}: {err}")
    raise OfflineError(
        f"cannot connect to {host}:{port} within {timeout:g} s ({'; '.join(errors)}). Check the network "
        f"(or a proxy in https_proxy), or run a profile that needs no downloads (quick, small)."
    )


def open_range(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (URLs come from the lock)


def response_start(response: http.client.HTTPResponse, offset: int) -> int:
    """Where the body starts: ``offset`` for a matching 206, else 0 (the server ignored the Range)."""
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        start = content_range.removeprefix("bytes ").split("-", 1)[0]
        if start.isdigit() and int(start) == offset:
            return offset
        raise DownloadError(
            f"server answered a resume from byte {offset} with Content-Range {content_range!r}"
        )
    return 0


def expected_total(response: http.client.HTTPResponse, start: int) -> int | None:
    length = response.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def transfer(url: str, part: Path, timeouts: Timeouts, label: str, progress: bool = True) -> None:
    """Append the rest of ``url`` to ``part`` (or rewrite it if the server will not resume)."""
    from tqdm import tqdm

    offset = part.stat().st_size if part.exists() else 0
    try:
        response = open_range(url, offset, timeouts.read)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the part is complete (verified next)
            return
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"{url}: cannot open ({reason}); partial file kept, rerun to resume") from err
    with response:
        start = response_start(response, offset)
        total = expected_total(response, start)
        if start != offset:
            log.info("%s: server ignored the resume request; starting again from zero", label)
        received = start
        bar = tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            desc=label,
            mininterval=2,
            disable=not progress,
        )
        try:
            with open(part, "r+b" if start else "wb") as out, bar:
                out.seek(start)
                out.truncate()
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        except TimeoutError as err:
            raise DownloadError(
                f"{url}: stalled (no data for {timeouts.read:g} s after {received} bytes); "
                f"partial file kept at {part}, rerun to resume"
            ) from err
        except (http.client.IncompleteRead, ConnectionError, OSError) as err:
            raise DownloadError(
                f"{url}: transfer interrupted after {received} bytes ({err}); "
                f"partial file kept at {part}, rerun to resume"
            ) from err
    if total is not None and received < total:
        raise DownloadError(
            f"{url}: truncated transfer ({received} of {total} bytes); partial file kept at {part}, "
            f"rerun to resume"
        )


def verify(part: Path, size: int | None, checksum: str | None, url: str) -> str:
    """Check size and checksum; on mismatch delete ``part`` and raise. Return the observed sha256."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        if actual_size > size:
            part.unlink()
        raise ChecksumError(
            f"{url}: size mismatch (expected {size} bytes, got {actual_size}); "
            + ("nothing was kept, rerun to download again" if actual_size > size else "rerun to resume")
        )
    sha256 = file_digest(part, "sha256")
    if checksum is not None:
        algorithm, expected = checksum.split(":", 1)
        actual = sha256 if algorithm == "sha256" else file_digest(part, algorithm)
        if actual != expected:
            part.unlink()
            raise ChecksumError(
                f"{url}: {algorithm} mismatch (expected {expected}, got {actual}, {actual_size} bytes): "
                f"the download is corrupt or the file changed upstream. Nothing was kept; rerun to download "
                f"again, and if it persists, check the lock entry against the publisher."
            )
    return sha256


def fetch(
    url: str,
    dest: Path,
    size: int | None = None,
    checksum: str | None = None,
    timeouts: Timeouts = Timeouts(),
    retries: int = 0,
    label: str | None = None,
    progress: bool = True,
) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, rename it into place.

    Interrupted or stalled transfers are resumed up to ``retries`` more times. Returns the sha256 of the
    kept file (recorded by the caller; for an unpinned file it is the only record of what was fetched).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    label = label or dest.name
    for attempt in range(retries + 1):
        try:
            if size is None or not part.exists() or part.stat().st_size < size:
                transfer(url, part, timeouts, label, progress)
            break
        except ChecksumError:
            raise
        except DownloadError as err:
            if attempt == retries:
                raise
            log.warning("%s (attempt %d of %d); resuming", err, attempt + 1, retries + 1)
    sha256 = verify(part, size, checksum, url)
    os.replace(part, dest)
    return sha256
