"""Recent container logs (stdout/stderr through the Docker Engine API), read with a byte cap.

Containerised backends log to stdout, not to files: the runbooks' ``docker compose logs
backend | grep ...`` is this module. Each container's last 24 h are streamed with Docker's own
timestamps (so every line has a time even when the application prints none), at most
``MAX_LINES`` lines and ``MAX_BYTES`` bytes, several containers at once; only counts, the
most frequent messages (normalised, redacted) and source addresses leave the probe.

>>> count_pattern(["2026-01-02T10:00:00.1Z WARN FDA API rate limit hit"], "(?i)rate limit",
...               container="backend").matches
1
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import docker.errors
import requests

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

WINDOW = dt.timedelta(hours=24)
MAX_LINES = 50_000
MAX_BYTES = 8 * 1024 * 1024
_VOLATILE = re.compile(
    r"\d{4}-\d\d-\d\dT[\d:.]+Z?|\b[0-9a-f]{8,}\b|\b\d+(\.\d+)*\b", re.IGNORECASE
)
_DOCKER_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")
T = TypeVar("T")


@dataclass
class ContainerLog:
    """One container's recent log lines (each prefixed with Docker's RFC 3339 timestamp)."""

    container: str
    lines: list[str]
    bytes_read: int
    truncated: bool  # the byte cap was reached: older lines of the window were not read


def read_logs(cli: docker.DockerClient, name: str, *, since: dt.datetime, target: str,
              max_bytes: int = MAX_BYTES, max_lines: int = MAX_LINES) -> ContainerLog:
    """The log of container ``name`` since ``since``: the newest ``max_lines`` lines, and no
    more than ``max_bytes`` bytes of them."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    try:
        stream = cli.api.logs(name, stdout=True, stderr=True, since=since, tail=max_lines,
                              timestamps=True, stream=True, follow=False)
        try:
            for chunk in stream:
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    truncated = True
                    break
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ProbeError(target, f"cannot read the logs of {name}: "
                                 f"{redact_text(str(exc))[:200]}") from None
    lines = b"".join(chunks)[:max_bytes].decode("utf-8", "replace").splitlines()
    return ContainerLog(container=name, lines=lines, bytes_read=min(size, max_bytes),
                        truncated=truncated)


def read_many(cli: docker.DockerClient, names: list[str], *, since: dt.datetime,
              target: str) -> list[ContainerLog]:
    """:func:`read_logs` of several containers concurrently (the reads are independent)."""
    return _map(lambda n: read_logs(cli, n, since=since, target=target), names)


def _map(fn: Callable[[str], T], names: list[str]) -> list[T]:
    if len(names) <= 1:
        return [fn(n) for n in names]
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return list(pool.map(fn, names))


@dataclass
class PatternCount:
    """How many lines of one container's log match a pattern, and the most frequent ones."""

    container: str
    pattern: str
    lines_read: int
    matches: int
    top: list[tuple[str, int]] = field(default_factory=list)
    truncated: bool = False


def normalise(line: str) -> str:
    """A log line without Docker's timestamp prefix, timestamps, ids and numbers, redacted:
    equal messages group."""
    text = _DOCKER_TS.sub("", line, count=1)
    return _VOLATILE.sub("#", redact_text(text)).strip()[:160]


def count_pattern(lines: list[str], pattern: str, *, container: str,
                  truncated: bool = False) -> PatternCount:
    """Lines matching ``pattern`` (a Python regular expression, ``(?i)`` for any case)."""
    rx = re.compile(pattern)
    counts: Counter[str] = Counter()
    for line in lines:
        if rx.search(line):
            counts[normalise(line)] += 1
    return PatternCount(container=container, pattern=pattern, lines_read=len(lines),
                        matches=sum(counts.values()), top=counts.most_common(5),
                        truncated=truncated)


def summary(logs: list[ContainerLog]) -> list[dict[str, Any]]:
    """What was read, for the evidence (never the lines themselves)."""
    return [{"container": c.container, "lines": len(c.lines), "bytes": c.bytes_read,
             "truncated": c.truncated} for c in logs]


def service_containers(cli: docker.DockerClient, project: str | None, service: str, *,
                       target: str) -> list[str]:
    """Names of the containers of one compose service (any state: a crashed one logged too)."""
    labels = [f"com.docker.compose.service={service}"]
    if project:
        labels.append(f"com.docker.compose.project={project}")
    try:
        listed = cli.api.containers(all=True, filters={"label": labels})
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ProbeError(target, f"Docker engine did not answer: "
                                 f"{redact_text(str(exc))[:200]}") from None
    return sorted(str(c["Names"][0]).lstrip("/") for c in listed if c.get("Names"))
