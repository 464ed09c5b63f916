"""Health faults: what the daily health checks exist to catch, made real in the sandbox.

Each fault changes a real component through its knobs and is reverted the same way; reverts
are idempotent (reverting twice, or a fault that was only half injected, is harmless).

- ``health_degraded`` / ``ready_failing`` / ``metrics_family_missing``: the backend's control
  file (/health answers 200 with ``{"status": "degraded"}``; /ready 503; /metrics without the
  request-duration histogram).
- ``upload_limit_too_low``: nginx ``client_max_body_size 1m`` on the upload location.
- ``prometheus_target_down``: a scrape job whose exporter does not listen.
- ``critical_alert_firing``: a critical alert posted to Alertmanager.
- ``redis_unresponsive`` / ``postgres_unresponsive``: the server process is stopped with
  SIGSTOP: its port still accepts connections (the kernel completes the handshake) but nothing
  ever answers - a hung server, the hardest case for a probe's timeouts. SIGCONT resumes it
  with all its state (ACLs, settings, data) intact, unlike a restart.
- ``container_memory_near_limit``: ``dd`` inside the worker container writes a file to its
  /dev/shm (a tmpfs: its pages are charged to the container's memory cgroup and cannot be
  dropped like page cache) until 95 % of the 64 MiB limit is in use. Revert removes the file.
- ``container_cpu_at_limit``: the worker is recreated with a CPU limit too tight for its
  work (0.05 CPU instead of 0.5) and a busy loop is ``docker exec``-ed into it: it runs at the
  limit, where the kernel throttles it. Revert recreates the worker from its healthy spec,
  which ends the loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import requests

from opsverify.probes import containers as containers_probe
from opsverify.sandbox import backend, dockerengine, monitoring, nginx, postgres
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

DEAD_JOB = "billing-exporter"
ALERT_LABELS = {
    "alertname": "PostgresReplicationBroken",
    "severity": "critical",
    "service": "database",
}
HIDDEN_FAMILY = "http_request_duration_seconds"


# --- backend knobs -------------------------------------------------------------------------------
def _knob(**on: object) -> tuple:
    def inject(sb: Sandbox) -> None:
        backend.set_control(sb, **on)

    def revert(sb: Sandbox) -> None:
        backend.set_control(sb, **dict.fromkeys(on))

    return inject, revert


# --- nginx ---------------------------------------------------------------------------------------
def _inject_upload_limit(sb: Sandbox) -> None:
    nginx.configure(sb, upload_max_body="1m")


def _revert_upload_limit(sb: Sandbox) -> None:
    if "upload_max_body" in sb.state.get("nginx", {}).get("options", {}):
        nginx.reset(sb, "upload_max_body")


# --- monitoring ----------------------------------------------------------------------------------
def _inject_target_down(sb: Sandbox) -> None:
    # A port allocated (free) and never listened on: every scrape is refused.
    monitoring.add_scrape_target(sb, DEAD_JOB, f"127.0.0.1:{sb.port('health_dead_exporter')}")
    monitoring.wait_targets(sb, expect={DEAD_JOB: "down"}, timeout=15)


def _revert_target_down(sb: Sandbox) -> None:
    if DEAD_JOB not in sb.state.get("monitoring", {}).get("extra_targets", {}):
        return
    monitoring.remove_scrape_target(sb, DEAD_JOB)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not any(t["job"] == DEAD_JOB for t in monitoring.targets(sb)):
            return
        time.sleep(0.2)
    raise SandboxError(f"prometheus still lists job {DEAD_JOB} 15s after its removal")


def _firing(sb: Sandbox) -> bool:
    return any(a.get("labels", {}).get("alertname") == ALERT_LABELS["alertname"]
               and a.get("status", {}).get("state") == "active"
               for a in monitoring.active_alerts(sb))


def _inject_alert(sb: Sandbox) -> None:
    monitoring.post_alert(sb, ALERT_LABELS, {"summary": "replica stopped streaming WAL"})
    deadline = time.monotonic() + 10
    while not _firing(sb):
        if time.monotonic() > deadline:
            raise SandboxError("alertmanager does not show the posted alert as active")
        time.sleep(0.1)


def _revert_alert(sb: Sandbox) -> None:
    with contextlib.suppress(requests.RequestException):
        monitoring.resolve_alert(sb, ALERT_LABELS)
    deadline = time.monotonic() + 10
    while _firing(sb):
        if time.monotonic() > deadline:
            raise SandboxError("alertmanager still shows the alert active after resolving it")
        time.sleep(0.1)


# --- hung servers --------------------------------------------------------------------------------
def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _redis_pids(sb: Sandbox) -> list[int]:
    pids = list(sb.state.get("pids", {}).get("redis", []))
    if not pids:
        raise SandboxError("no redis process recorded in this sandbox")
    return pids


def _postmaster(sb: Sandbox) -> list[int]:
    pid = postgres._postmaster_pid(sb)
    if pid is None:
        raise SandboxError("no postmaster.pid in this sandbox")
    return [pid]


def _inject_redis_hung(sb: Sandbox) -> None:
    _signal(_redis_pids(sb), signal.SIGSTOP)


def _revert_redis_hung(sb: Sandbox) -> None:
    _signal(_redis_pids(sb), signal.SIGCONT)


def _inject_pg_hung(sb: Sandbox) -> None:
    _signal(_postmaster(sb), signal.SIGSTOP)


def _revert_pg_hung(sb: Sandbox) -> None:
    _signal(_postmaster(sb), signal.SIGCONT)


# --- container resources -------------------------------------------------------------------------
STATS_SERVICE = "worker"
SHM_FILL = "/dev/shm/opsverify-fill"
SHM_FILL_PCT = 95
#: The container's CPU use must reach this share of its limit before inject returns.
CPU_AT_LIMIT_PCT = 95
#: The fault's CPU limit (0.05 CPU): a limit too tight for the work. At the healthy 0.5 CPU
#: a loaded CI machine may not even hand the container its full share (its cgroup competes
#: with every other runnable task), which would make "at the limit" a matter of luck; 0.05
#: CPU it always gets, and the kernel throttles it exactly there.
CPU_FAULT_NANO = 50_000_000
#: ... and the largest CPU weight among its sibling containers, so that the containers of
#: other sandboxes on the same machine do not take that share either.
CPU_FAULT_SHARES = 262144
CPU_WAIT_S = 20


def _stats(sb: Sandbox) -> containers_probe.ContainerStats:
    with dockerengine.engine(sb) as client:
        found = containers_probe.container_stats(
            client, dockerengine.container_name(STATS_SERVICE, sb), target=STATS_SERVICE)
    if found is None:
        raise SandboxError(f"no {STATS_SERVICE} container in this sandbox")
    return found


def _exec(sb: Sandbox, cmd: str, *, detach: bool = False) -> str:
    """Run ``sh -c cmd`` in the worker (as its own user); raise if it fails."""
    with dockerengine.engine(sb) as client:
        c = client.containers.get(dockerengine.container_name(STATS_SERVICE, sb))
        res = c.exec_run(["sh", "-c", cmd], detach=detach)
    if not detach and res.exit_code != 0:
        raise SandboxError(f"`{cmd}` in {c.name} exited {res.exit_code}: "
                           f"{res.output.decode(errors='replace').strip()[-200:]}")
    return "" if detach else res.output.decode(errors="replace")


def _inject_container_memory(sb: Sandbox) -> None:
    before = _stats(sb)
    if not before.memory_limit_bytes:
        raise SandboxError(f"the {STATS_SERVICE} container has no memory limit to fill")
    need_mib = (before.memory_limit_bytes * SHM_FILL_PCT // 100
                - before.memory_used_bytes) // 2**20
    if need_mib > 0:
        _exec(sb, f"rm -f {SHM_FILL}; dd if=/dev/zero of={SHM_FILL} bs=1M count={need_mib} "
                  "2>/dev/null")
    after = _stats(sb)
    if (after.memory_pct or 0) < SHM_FILL_PCT - 5:
        raise SandboxError(f"{after.name} uses only {after.memory_pct}% of its memory limit "
                           f"after writing {need_mib} MiB to {SHM_FILL}")


def _revert_container_memory(sb: Sandbox) -> None:
    try:
        _exec(sb, f"rm -f {SHM_FILL}")
    except Exception:  # not running (another fault recreated it): a fresh container is clean
        dockerengine.restore_service(sb, STATS_SERVICE)


def _inject_container_cpu(sb: Sandbox) -> None:
    with dockerengine.engine(sb) as client:
        dockerengine.run_service(client, sb, STATS_SERVICE, nano_cpus=CPU_FAULT_NANO,
                                  cpu_shares=CPU_FAULT_SHARES)
        dockerengine.wait_for(client, dockerengine.container_name(STATS_SERVICE, sb),
                              dockerengine.is_healthy, "healthy")
    _exec(sb, "while :; do :; done", detach=True)
    deadline = time.monotonic() + CPU_WAIT_S
    while True:  # each stats call samples the CPU for about a second
        now = _stats(sb)
        if (now.cpu_pct_of_limit or 0) >= CPU_AT_LIMIT_PCT:
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"{now.name} reached only {now.cpu_pct_of_limit}% of its CPU "
                               f"limit in {CPU_WAIT_S}s (the machine is too busy to give it "
                               f"{now.cpu_limit} CPUs)")


def _revert_container_cpu(sb: Sandbox) -> None:
    # Recreated from its healthy spec (0.5 CPU): that ends the loop with every other process
    # of the fault's container, whatever state it is in.
    dockerengine.restore_service(sb, STATS_SERVICE)


_degraded = _knob(health_status="degraded")
_ready = _knob(ready_fail=True)
_metrics = _knob(metrics_hidden=[HIDDEN_FAMILY])

FAULTS: list[Fault] = [
    Fault("health_degraded", "health",
          "backend /health answers 200 with {\"status\": \"degraded\"}", *_degraded),
    Fault("ready_failing", "health", "backend /ready answers 503 (not ready)", *_ready),
    Fault("metrics_family_missing", "health",
          f"backend /metrics no longer exposes {HIDDEN_FAMILY}", *_metrics),
    Fault("upload_limit_too_low", "health",
          "nginx client_max_body_size 1m on /api/upload (10 GB promised)",
          _inject_upload_limit, _revert_upload_limit),
    Fault("prometheus_target_down", "health",
          f"Prometheus scrapes job {DEAD_JOB} whose exporter does not listen",
          _inject_target_down, _revert_target_down),
    Fault("critical_alert_firing", "health",
          f"a critical alert {ALERT_LABELS['alertname']} is active in Alertmanager",
          _inject_alert, _revert_alert),
    Fault("redis_unresponsive", "health",
          "redis-server is stopped (SIGSTOP): connections are accepted, nothing answers",
          _inject_redis_hung, _revert_redis_hung),
    Fault("postgres_unresponsive", "health",
          "the postmaster is stopped (SIGSTOP): connections are accepted, nothing answers",
          _inject_pg_hung, _revert_pg_hung),
    Fault("container_memory_near_limit", "health",
          f"a {SHM_FILL} file in the {STATS_SERVICE} container fills its memory cgroup to "
          f"{SHM_FILL_PCT}% of its {dockerengine.MEMORY_LIMIT} limit",
          _inject_container_memory, _revert_container_memory),
    Fault("container_cpu_at_limit", "health",
          f"the {STATS_SERVICE} container, limited to {CPU_FAULT_NANO / 1e9:g} CPU, runs a "
          "busy loop at that limit",
          _inject_container_cpu, _revert_container_cpu),
]
