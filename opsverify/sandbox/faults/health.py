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
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import requests

from opsverify.sandbox import backend, monitoring, nginx, postgres
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
]
