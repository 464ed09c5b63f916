"""Loopback servers for the security probes' unit tests: a tiny HTTP app and a throwaway
redis-server (real servers, no mocks: the probes must work against what users run)."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

PAGES = {
    "/": (200, {"Server": "nginx", "X-Content-Type-Options": "nosniff"}, b"<html>home</html>"),
    "/.env": (200, {}, b"DB_PASSWORD=hunter2hunter2\nSECRET_KEY=abc\n"),
    "/.git/config": (404, {}, b"not found"),
    "/uploads/": (200, {}, b"<html><title>Index of /uploads/</title><h1>Index of /uploads/</h1>"
                           b'<a href="../">../</a></html>'),
    "/crash": (500, {}, b'Traceback (most recent call last):\n  File "/app/x.py", line 3, in f\n'),
    "/open": (200, {}, b"public"),
}


class _Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _auth_ok(self) -> bool | None:
        raw = self.headers.get("Authorization", "")
        if not raw.startswith("Basic "):
            return None
        return base64.b64decode(raw[6:]).decode() == "admin:admin"

    def do_GET(self) -> None:
        if self.path in ("/weak", "/strong"):
            ok = self._auth_ok()
            if self.path == "/weak" and ok:
                return self._reply(200, {}, b"welcome")
            return self._reply(401, {"WWW-Authenticate": 'Basic realm="x"'}, b"no")
        if self.path == "/post-only":
            return self._reply(405, {}, b"use POST")
        status, headers, body = PAGES.get(self.path, (404, {}, b"<html>not found</html>"))
        return self._reply(status, headers, body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path == "/post-only":
            return self._reply(401, {}, b'{"error": "invalid credentials"}')
        return self._reply(404, {}, b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[tuple[int, str]]:
    """A throwaway redis-server on loopback with a password; yields (port, password)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port, password = _free_port(), "unit-test-password-1234"
    workdir = tempfile.mkdtemp(prefix="opsverify-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
         "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield port, password
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
