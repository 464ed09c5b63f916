"""Endpoint observations beyond one fetch: body expectations, /metrics families, upload limits.

The fetch itself is :func:`opsverify.probes.http.fetch` (timeouts, capped body, TLS always
verified). This module adds what the health checks need on top of it:

- :func:`json_mismatches`: where a JSON body differs from the inventory's ``expect_json``
  subset (``/health`` answering 200 with ``{"status": "degraded"}`` must be a finding).
- :func:`parse_metrics`: the metric families of a Prometheus text exposition.
- :func:`probe_upload`: whether a proxy would accept a body of a given size, asked with a
  declared ``Content-Length`` and ``Expect: 100-continue`` and never sending the body, so a
  10 GB promise is verified in milliseconds without uploading anything.

>>> json_mismatches({"status": "healthy"}, {"status": "degraded", "version": "1"})
['$.status is "degraded", expected "healthy"']
>>> json_mismatches({"db": {"ok": True}}, {"db": {"ok": True, "ms": 3}})
[]
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

MAX_HEAD = 16 * 1024


# ----------------------------------------------------------------------------- JSON subset
def json_mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Every place where ``actual`` does not contain ``expected`` (mappings: subset, recursively;
    anything else, lists included: equality). Empty means the body matches."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path} is {_short(actual)}, expected an object"]
        out: list[str] = []
        for key, want in expected.items():
            if key not in actual:
                out.append(f"{path}.{key} is missing, expected {_short(want)}")
            else:
                out.extend(json_mismatches(want, actual[key], f"{path}.{key}"))
        return out
    if expected != actual:
        return [f"{path} is {_short(actual)}, expected {_short(expected)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- /metrics
@dataclass
class MetricsObservation:
    """The families of one Prometheus text exposition (names as the parser reports them)."""

    families: dict[str, str]  # name -> type
    samples: int
    parse_error: str | None = None

    def has(self, name: str) -> bool:
        """Whether family ``name`` is exposed; ``x_total`` also matches counter ``x`` (the
        parser strips the ``_total`` suffix of counters)."""
        if name in self.families:
            return True
        base = name.removesuffix("_total")
        return base != name and self.families.get(base) == "counter"


def parse_metrics(text: str) -> MetricsObservation:
    """Parse a text exposition; a syntax error is recorded, not raised (it is a finding)."""
    families: dict[str, str] = {}
    samples = 0
    try:
        for fam in text_string_to_metric_families(text):
            families[fam.name] = fam.type
            samples += len(fam.samples)
    except (ValueError, TypeError, IndexError) as exc:
        return MetricsObservation(families, samples, redact_text(str(exc))[:300] or "parse error")
    return MetricsObservation(families, samples)


# ----------------------------------------------------------------------------- upload limit
@dataclass
class UploadObservation:
    """How the server answered a request that declared a body it never received."""

    url: str
    declared_bytes: int
    status: int  # 100 = "go ahead, send the body"
    reason: str
    elapsed_ms: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """100 Continue, or a final answer that is not about the body (401, 405, 2xx...)."""
        return self.status == 100 or self.status not in (411, 413, 414, 417)


def probe_upload(
    url: str,
    size: int,
    *,
    target: str,
    timeout_s: float,
    ca_file: str | None = None,
    resolve: str | None = None,
    method: str = "POST",
) -> UploadObservation:
    """Send only the request head of an upload of ``size`` bytes and read the first answer.

    nginx compares the declared Content-Length with ``client_max_body_size`` before reading
    anything and answers 413 at once; a server that accepts the size answers ``100 Continue``.
    The connection is then closed: no body byte is ever sent (the upstream may see an aborted
    upload, exactly as when a user cancels one).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {parts.netloc.rsplit('@', 1)[-1]}\r\n"
        "User-Agent: opsverify (operational verification; read-only)\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    deadline = start + timeout_s
    try:
        raw = socket.create_connection((resolve or host, port), timeout=timeout_s)
    except TimeoutError:
        raise ProbeError(target, f"connect to {url} timed out after {timeout_s:g}s") from None
    except OSError as exc:
        raise ProbeError(target, f"cannot connect to {url}: {exc.strerror or exc}") from None
    sock: socket.socket = raw
    try:
        if parts.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca_file) if ca_file else \
                ssl.create_default_context()
            try:
                sock = ctx.wrap_socket(raw, server_hostname=host)
            except ssl.SSLError as exc:
                raise ProbeError(target, f"TLS handshake with {url} failed: "
                                         f"{exc.reason or exc}") from None
            except (TimeoutError, OSError) as exc:
                raise ProbeError(target, f"TLS handshake with {url} failed: {exc}") from None
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        raise ProbeError(target, f"{url} answered neither 100 Continue nor a status within "
                                 f"{timeout_s:g}s to an upload of {size} bytes") from None
    except OSError as exc:
        raise ProbeError(target, f"upload probe of {url} failed: {exc}") from None
    finally:
        sock.close()
    elapsed_ms = (time.perf_counter() - start) * 1000
    status_line, *header_lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    bits = status_line.split(" ", 2)
    if len(bits) < 2 or not bits[0].startswith("HTTP/") or not bits[1].isdigit():
        raise ProbeError(target, f"{url} did not answer HTTP: {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip()] = v.strip()
    return UploadObservation(url=url, declared_bytes=size, status=int(bits[1]),
                             reason=bits[2] if len(bits) > 2 else "", elapsed_ms=elapsed_ms,
                             headers=headers)
