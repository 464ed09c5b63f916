"""Ports that must not be reachable: one TCP connect each, with a short timeout.

The runbooks check that the database and Redis are not published on the host
(``curl http://localhost:5432`` must be refused). A connect that is refused, times out
(filtered) or finds no route means closed; an accepted connection is a finding. When the port
is on this machine, the listening process is named (``ss -ltnp`` in the runbook's words), and
a banner the service volunteers within a moment is kept (an SSH or SMTP greeting says what
listens; PostgreSQL and Redis say nothing until asked, and nothing is sent to them).

>>> probe_port("127.0.0.1", 9, target="discard", timeout_s=0.5).open   # nothing listens on 9
False
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import time
from dataclasses import dataclass

import psutil

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

BANNER_WAIT_S = 0.3
BANNER_MAX = 120


@dataclass
class PortObservation:
    host: str
    port: int
    open: bool
    outcome: str  # accepted, refused, timed out, unreachable
    elapsed_ms: float
    banner: str = ""
    listener: str = ""  # process listening on it, when the port is on this machine

    def what_listens(self) -> str:
        parts = [p for p in (self.listener, f"banner {self.banner!r}" if self.banner else "") if p]
        return "; ".join(parts) or "unknown service (no banner)"


def _is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def local_listener(port: int) -> str:
    """``name (pid N)`` of the local process listening on TCP ``port``, or ``""``."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return ""
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(c.pid)
                return f"{proc.name()} (pid {c.pid}, user {proc.username()})"
            return f"pid {c.pid}"
    return ""


def probe_port(host: str, port: int, *, target: str, timeout_s: float) -> PortObservation:
    """Try one TCP connection to ``host:port``; never sends a byte."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeError(target, f"cannot resolve {host}: {exc.strerror}") from None
    family, stype, proto, _, addr = infos[0]
    t0 = time.monotonic()
    sock = socket.socket(family, stype, proto)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(addr)
        except ConnectionRefusedError:
            return PortObservation(host, port, False, "refused", _ms(t0))
        except TimeoutError:
            return PortObservation(host, port, False, "timed out (filtered)", _ms(t0))
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return PortObservation(host, port, False, "unreachable (no route)", _ms(t0))
            raise ProbeError(target, f"connect to {host}:{port} failed oddly: "
                                     f"{exc.strerror or exc}") from None
        elapsed = _ms(t0)
        banner = b""
        sock.settimeout(BANNER_WAIT_S)
        with contextlib.suppress(OSError):
            banner = sock.recv(BANNER_MAX)
        text = redact_text(" ".join(banner.decode("ascii", "replace").split()))[:BANNER_MAX]
        listener = local_listener(port) if _is_local(host) else ""
        return PortObservation(host, port, True, "accepted", elapsed, text, listener)
    finally:
        sock.close()


def _ms(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000, 1)
