"""Containers of a compose project, observed through the Docker Engine API (docker SDK).

One :func:`snapshot` lists every container of the project with what ``docker inspect`` says
about it (state, exit code, health, restarts, OOM kill): the checks compare, this module only
observes. :func:`ps_table` renders the snapshot like ``docker compose ps`` for the evidence, and
:func:`error_lines` counts ERROR/CRITICAL lines in a container's recent log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
#: A log line counts as an error when it carries one of these level words.
ERROR_RE = re.compile(r"\b(ERROR|CRITICAL|FATAL|PANIC)\b")
_VOLATILE = re.compile(
    r"\d{4}-\d\d-\d\dT[\d:.]+Z?|\b[0-9a-f]{8,}\b|\b\d+(\.\d+)*\b", re.IGNORECASE
)
MAX_LOG_LINES = 50_000


@dataclass
class ContainerObservation:
    name: str
    service: str
    status: str  # created, running, restarting, exited, paused, dead
    exit_code: int
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck
    restart_count: int
    oom_killed: bool
    started_at: str
    finished_at: str
    image: str
    error: str = ""
    health_log: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.status == "running"


def client(url: str, *, target: str, timeout_s: float) -> docker.DockerClient:
    """An Engine API client with a timeout on every call (no request is sent yet)."""
    try:
        return docker.DockerClient(base_url=url, timeout=max(1, round(timeout_s)))
    except docker.errors.DockerException as exc:
        raise ProbeError(target, f"cannot use the Docker engine at {url}: "
                                 f"{redact_text(str(exc))[:200]}") from None


def _observe(attrs: dict[str, Any]) -> ContainerObservation:
    state = attrs.get("State", {})
    labels = attrs.get("Config", {}).get("Labels") or {}
    health = state.get("Health")
    return ContainerObservation(
        name=attrs.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        status=str(state.get("Status", "unknown")),
        exit_code=int(state.get("ExitCode") or 0),
        health=str(health.get("Status")) if health else None,
        restart_count=int(attrs.get("RestartCount") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        started_at=str(state.get("StartedAt", "")),
        finished_at=str(state.get("FinishedAt", "")),
        image=str(attrs.get("Config", {}).get("Image", "")),
        error=str(state.get("Error") or ""),
        health_log=[redact_text(str(h.get("Output", "")).strip())[:200]
                    for h in (health or {}).get("Log", [])[-3:]],
    )


def snapshot(cli: docker.DockerClient, project: str | None, *,
             target: str) -> list[ContainerObservation]:
    """Every container of the compose project (all containers when no project is given)."""
    filters = {"label": f"{PROJECT_LABEL}={project}"} if project else {}
    try:
        listed = cli.api.containers(all=True, filters=filters)
        out = []
        for c in listed:
            try:
                out.append(_observe(cli.api.inspect_container(c["Id"])))
            except docker.errors.NotFound:
                continue  # removed between list and inspect
        return sorted(out, key=lambda c: (c.service, c.name))
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ProbeError(target, f"Docker engine did not answer: "
                                 f"{redact_text(str(exc))[:200]}") from None


def ps_table(containers: list[ContainerObservation]) -> str:
    """The snapshot as ``docker compose ps`` would show it."""
    rows = [("NAME", "SERVICE", "STATUS", "HEALTH", "RESTARTS", "EXIT", "OOM")]
    for c in containers:
        rows.append((c.name, c.service or "-", c.status, c.health or "-",
                     str(c.restart_count), str(c.exit_code) if c.status != "running" else "-",
                     "yes" if c.oom_killed else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


@dataclass
class LogErrors:
    container: str
    lines_read: int
    errors: int
    top: list[tuple[str, int]]  # normalised message -> count, most frequent first


def error_lines(cli: docker.DockerClient, name: str, *, since: dt.datetime,
                target: str) -> LogErrors:
    """Count ERROR/CRITICAL lines logged by container ``name`` since ``since``."""
    try:
        raw = cli.api.logs(name, stdout=True, stderr=True, since=since, tail=MAX_LOG_LINES,
                           timestamps=False)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ProbeError(target, f"cannot read the logs of {name}: "
                                 f"{redact_text(str(exc))[:200]}") from None
    lines = raw.decode("utf-8", "replace").splitlines()
    counts: Counter[str] = Counter()
    errors = 0
    for line in lines:
        if ERROR_RE.search(line):
            errors += 1
            counts[_VOLATILE.sub("#", redact_text(line))[:160]] += 1
    return LogErrors(container=name, lines_read=len(lines), errors=errors,
                     top=counts.most_common(5))


def error_lines_many(cli: docker.DockerClient, names: list[str], *, since: dt.datetime,
                     target: str) -> list[LogErrors]:
    """:func:`error_lines` of several containers at once (log reads are independent)."""
    if len(names) <= 1:
        return [error_lines(cli, n, since=since, target=target) for n in names]
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return list(pool.map(lambda n: error_lines(cli, n, since=since, target=target), names))
