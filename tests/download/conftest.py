"""A real HTTP server on 127.0.0.1, started per test, serving bytes with Range support and failure modes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes
    ignore_range: bool = False  # answer every request with 200 and the whole body
    truncate_at: int | None = None  # announce the full length, send this many bytes, close
    truncations: int = 1  # how many requests are truncated before the route behaves
    stall_after: int | None = None  # send this many bytes, then go silent until the test ends
    status: int = 200


@dataclass
class Server:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    release: threading.Event = field(default_factory=threading.Event)

    def serve(self, path: str, body: bytes, **mode) -> str:
        self.routes[path] = Route(body, **mode)
        return self.base + path


def make_handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            range_header = self.headers.get("Range")
            server.requests.append((self.path, range_header))
            route = server.routes.get(self.path)
            if route is None or route.status != 200:
                self.send_error(route.status if route else 404)
                return
            start = 0
            if range_header and not route.ignore_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(route.body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(route.body)}")
                    self.end_headers()
                    return
            body = route.body[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if route.stall_after is not None:
                self.wfile.write(body[: route.stall_after])
                self.wfile.flush()
                server.release.wait(30)  # silent until the test is over
                return
            if route.truncate_at is not None and route.truncations > 0:
                route.truncations -= 1
                self.wfile.write(body[: route.truncate_at])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def http_server():
    server = Server(base="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(server))
    httpd.daemon_threads = True
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.tar.gz"
