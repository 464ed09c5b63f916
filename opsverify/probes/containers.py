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
from concurrent.futures import ThreadPoolExecutor, wait
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


# --- resource use against limits (docker stats) ---------------------------------------------------
@dataclass
class ContainerStats:
    """One ``docker stats --no-stream`` row, with the limits the container was given.

    ``memory_limit_bytes`` / ``cpu_limit`` are the container's own limits (HostConfig), 0 /
    None when it has none: the kernel then enforces nothing below the host's RAM and CPUs, and
    ``docker stats`` would show the host's figures as the "limit".
    """

    name: str
    service: str
    memory_used_bytes: int  # usage minus inactive page cache, as ``docker stats`` shows
    memory_limit_bytes: int
    cpu_pct: float | None  # % of one CPU over the sampling interval (docker stats CPU %)
    cpu_limit: float | None  # CPUs (``--cpus``: NanoCpus or CpuQuota / CpuPeriod)
    online_cpus: int
    throttled_periods: int = 0

    @property
    def memory_pct(self) -> float | None:
        if not self.memory_limit_bytes:
            return None
        return round(100.0 * self.memory_used_bytes / self.memory_limit_bytes, 1)

    @property
    def cpu_pct_of_limit(self) -> float | None:
        if self.cpu_pct is None or not self.cpu_limit:
            return None
        return round(self.cpu_pct / self.cpu_limit, 1)


def memory_used(memory_stats: dict[str, Any]) -> int:
    """Memory in use as the docker CLI computes it: usage minus inactive file cache
    (``total_inactive_file`` on cgroup v1, ``inactive_file`` on v2): page cache the kernel
    drops under pressure is not a risk. tmpfs/shm pages are not file cache and stay counted.

    >>> memory_used({"usage": 100, "stats": {"total_inactive_file": 30}})
    70
    >>> memory_used({"usage": 100, "stats": {"inactive_file": 130}})
    100
    """
    usage = int(memory_stats.get("usage") or 0)
    stats = memory_stats.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):  # v1 first, as the CLI does
        if key in stats:
            inactive = int(stats[key] or 0)
            return usage - inactive if inactive < usage else usage
    return usage


def cpu_percent(stats: dict[str, Any]) -> float | None:
    """CPU % of one CPU between the two samples of a one-shot stats answer, as the docker CLI
    computes it (container CPU time delta / host CPU time delta x online CPUs x 100); None
    when the engine sent no previous sample.

    >>> cpu_percent({"cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000},
    ...              "system_cpu_usage": 4_000_000_000, "online_cpus": 2},
    ...              "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000},
    ...              "system_cpu_usage": 2_000_000_000}})
    50.0
    """
    cur, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    if not pre.get("system_cpu_usage") or not cur.get("system_cpu_usage"):
        return None
    cpu_delta = (cur.get("cpu_usage", {}).get("total_usage", 0)
                 - pre.get("cpu_usage", {}).get("total_usage", 0))
    sys_delta = cur["system_cpu_usage"] - pre["system_cpu_usage"]
    cpus = cur.get("online_cpus") or len(cur.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    if sys_delta <= 0 or cpu_delta < 0:
        return 0.0
    return round(100.0 * cpu_delta / sys_delta * cpus, 1)


def cpu_limit(host_config: dict[str, Any]) -> float | None:
    """CPUs a container may use: ``--cpus`` (NanoCpus) or ``--cpu-quota``/``--cpu-period``.

    >>> cpu_limit({"NanoCpus": 500_000_000})
    0.5
    >>> cpu_limit({"CpuQuota": 150_000, "CpuPeriod": 100_000})
    1.5
    >>> cpu_limit({"NanoCpus": 0, "CpuQuota": 0}) is None
    True
    """
    if host_config.get("NanoCpus"):
        return round(host_config["NanoCpus"] / 1e9, 3)
    quota = host_config.get("CpuQuota") or 0
    if quota > 0:
        return round(quota / (host_config.get("CpuPeriod") or 100_000), 3)
    return None


def container_stats(cli: docker.DockerClient, container_id: str, *,
                    target: str) -> ContainerStats | None:
    """One container's stats (a one-shot call: the engine samples twice, ~1-2 s) and limits;
    None when it went away in between."""
    try:
        attrs = cli.api.inspect_container(container_id)
        raw = cli.api.stats(container_id, stream=False)
    except docker.errors.NotFound:
        return None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ProbeError(target, f"cannot read the stats of container {container_id[:12]}: "
                                 f"{redact_text(str(exc))[:200]}") from None
    hc = attrs.get("HostConfig") or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    cpu = raw.get("cpu_stats") or {}
    return ContainerStats(
        name=attrs.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        memory_used_bytes=memory_used(raw.get("memory_stats") or {}),
        memory_limit_bytes=int(hc.get("Memory") or 0),
        cpu_pct=cpu_percent(raw),
        cpu_limit=cpu_limit(hc),
        online_cpus=int(cpu.get("online_cpus") or 0),
        throttled_periods=int((cpu.get("throttling_data") or {}).get("throttled_periods") or 0),
    )


def stats_many(cli: docker.DockerClient, project: str | None, *, target: str,
               timeout_s: float, workers: int = 16) -> list[ContainerStats]:
    """Stats of every running container of the project, gathered concurrently: each one-shot
    call waits ~1-2 s for the engine's second sample, so 20 containers take ~2 s, not ~30 s.
    The whole gathering is bounded by ``timeout_s`` plus the sampling time."""
    filters: dict[str, Any] = {"status": "running"}
    if project:
        filters["label"] = f"{PROJECT_LABEL}={project}"
    try:
        ids = [c["Id"] for c in cli.api.containers(filters=filters)]
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ProbeError(target, f"Docker engine did not answer: "
                                 f"{redact_text(str(exc))[:200]}") from None
    if not ids:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids))))
    try:
        futures = [pool.submit(container_stats, cli, cid, target=target) for cid in ids]
        bound = timeout_s + 5  # one-shot stats sample for ~1-2 s on top of the I/O timeout
        _, late = wait(futures, timeout=bound)
        if late:
            raise ProbeError(target, f"docker stats of {len(late)} of {len(ids)} containers "
                                     f"did not answer within {bound:g}s")
        done = [f.result() for f in futures]  # re-raises a container's ProbeError
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return sorted((s for s in done if s is not None), key=lambda s: (s.service, s.name))


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}MiB"


def stats_table(rows: list[ContainerStats]) -> str:
    """The stats as ``docker stats --no-stream`` would show them, plus the CPU limit."""
    table = [("NAME", "CPU %", "CPU LIMIT", "CPU % OF LIMIT", "MEM USAGE / LIMIT", "MEM %")]
    for s in rows:
        table.append((
            s.name,
            "-" if s.cpu_pct is None else f"{s.cpu_pct:.1f}%",
            "none" if s.cpu_limit is None else f"{s.cpu_limit:g} CPUs",
            "-" if s.cpu_pct_of_limit is None else f"{s.cpu_pct_of_limit:.1f}%",
            f"{_mib(s.memory_used_bytes)} / "
            + (_mib(s.memory_limit_bytes) if s.memory_limit_bytes else "no limit"),
            "-" if s.memory_pct is None else f"{s.memory_pct:.1f}%"))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                     for r in table)
