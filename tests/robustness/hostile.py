"""Small real misbehaving servers on loopback: each accepts real connections and misbehaves
in one specific way an incident might produce."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

Handler = Callable[[socket.socket, threading.Event], None]


@contextmanager
def serve(handler: Handler) -> Iterator[int]:
    """Run ``handler(conn, stop)`` for every connection on a free 127.0.0.1 port."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=_guard, args=(handler, conn, stop), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        srv.close()
        for c in conns:
            with suppress(OSError):
                c.close()


def _guard(handler: Handler, conn: socket.socket, stop: threading.Event) -> None:
    with suppress(OSError):
        handler(conn, stop)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accepts and never answers (also: a TLS server stalled before its ServerHello)."""
    stop.wait(120)


def dribble(conn: socket.socket, stop: threading.Event) -> None:
    """An HTTP response one byte per second."""
    conn.recv(65536)
    for b in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + b"a" * 1000:
        if stop.wait(1.0):
            return
        conn.sendall(bytes([b]))


def endless_body(conn: socket.socket, stop: threading.Event) -> None:
    """A 2 GB (announced) body, sent as fast as the client reads."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 2147483648\r\n\r\n")
    chunk = b"x" * 65536
    sent = 0
    while not stop.is_set() and sent < 2 * 1024**3:
        conn.sendall(chunk)
        sent += len(chunk)


def garbage(conn: socket.socket, stop: threading.Event) -> None:
    """Answers protocol garbage to anything (HTTP, TLS, Redis, PostgreSQL)."""
    conn.settimeout(2)
    with suppress(OSError):
        conn.recv(65536)
    conn.sendall(b"\x00\xffGARBAGE\x13\x37 not a protocol \xde\xad\xbe\xef\r\n" * 8)
    time.sleep(0.2)


def close_after_first_packet(conn: socket.socket, stop: threading.Event) -> None:
    """A 'PostgreSQL' that reads the startup packet and hangs up."""
    conn.settimeout(2)
    with suppress(OSError):
        conn.recv(65536)
    conn.close()


def http_json(body: bytes) -> Handler:
    """An HTTP server answering every request with ``body`` as JSON (e.g. malformed)."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(2)
        try:
            conn.recv(65536)
        except OSError:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    return handler
