"""Posture faults: the runbooks' "must not" verifications, each made true for real.

- ``closed_port_listening``: something listens on the port declared closed (a database
  published on the host by a forgotten ``ports:`` line);
- ``container_failed_logins``: the backend container logs a burst of failed logins on stdout;
- ``container_rate_limit_logs``: the worker (a profile without one: the backend) logs the
  FDA API rate limit 30 times;
- ``writes_outside_api_in_log``: POST/PUT/PATCH/DELETE requests to non-API paths hit nginx;
- ``alert_rule_missing``: Prometheus reloaded with a rule file that lost HighErrorRate;
- ``availability_dip``: a scrape target was down for a few seconds and is up again;
- ``nginx_upload_buffering_on``: ``proxy_request_buffering on`` for the upload route.

Every revert is idempotent and puts back the healthy state, including the history a check
would otherwise still see (log offsets, Prometheus series of the fault's own job).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

import yaml

from .. import dockerengine, monitoring, nginx
from ..base import Fault, Sandbox, SandboxError, wait_port
from ..posture import closed_port, delete_series

LISTENER_OWNER = "posture-listener"
EXPORTER_OWNER = "posture-exporter"
DIP_JOB = "billing-api"
FAILED_LOGINS = 30
RATE_LIMIT_LINES = 30
#: Documentation address (TEST-NET-2, RFC 5737): only ever text in a log line.
ATTACKER = "198.51.100.23"
WRITE_REQUESTS = (
    ("POST", "/wp-login.php"),
    ("PUT", "/uploads/shell.php"),
    ("DELETE", "/index.html"),
    ("PATCH", "/admin/users/1"),
    ("POST", "/cgi-bin/upload.cgi"),
)
_LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept(); c.close()
"""


# --- closed port ------------------------------------------------------------------------------
def _inject_listener(sb: Sandbox) -> None:
    port = closed_port(sb)
    sb.spawn(LISTENER_OWNER, [sys.executable, "-c", _LISTENER, str(port)],
             log="posture-listener.log")
    wait_port(port, timeout=10)


def _revert_listener(sb: Sandbox) -> None:
    sb.stop_processes(LISTENER_OWNER, timeout=3)


# --- container logs ---------------------------------------------------------------------------
def _log_to_stdout(sb: Sandbox, service: str, line: str, count: int) -> None:
    """``count`` copies of ``line`` on the container's stdout (PID 1's, as the app would)."""
    script = (f'i=0; while [ $i -lt {count} ]; do echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) '
              f'{line}" > /proc/1/fd/1; i=$((i+1)); done')
    with dockerengine.engine(sb) as client:
        c = client.containers.get(dockerengine.container_name(service, sb))
        res = c.exec_run(["sh", "-c", script])
        if res.exit_code != 0:
            raise SandboxError(f"could not write to {service}'s stdout: {res.output[:200]!r}")


def _inject_failed_logins(sb: Sandbox) -> None:
    _log_to_stdout(sb, "backend", f"WARNING auth: failed login for user=admin from ip={ATTACKER}",
                   FAILED_LOGINS)


def _rate_limit_service(sb: Sandbox) -> str:
    """The worker; under the regulatory-assistant profile (no worker) its backend, as its
    runbook greps ``docker compose logs backend``."""
    return "worker" if "worker" in dockerengine.services(sb) else "backend"


def _inject_rate_limit(sb: Sandbox) -> None:
    _log_to_stdout(sb, _rate_limit_service(sb), "WARNING fda-client: FDA API rate limit "
                                                "reached (429), retrying in 2s", RATE_LIMIT_LINES)


def _revert_rate_limit(sb: Sandbox) -> None:
    dockerengine.restore_service(sb, _rate_limit_service(sb))


def _restorer(service: str):  # type: ignore[no-untyped-def]
    def revert(sb: Sandbox) -> None:
        dockerengine.restore_service(sb, service)
    return revert


# --- access log -------------------------------------------------------------------------------
def _offset_file(sb: Sandbox) -> Path:
    return sb.path("nginx", "writes_outside_api.offset")


def _inject_writes(sb: Sandbox) -> None:
    """Raw requests to the sandbox's own nginx (loopback), as a scanner sends them."""
    log = Path(sb.state["nginx"]["access_log"])
    mark = _offset_file(sb)
    if not mark.exists():
        mark.write_text(str(log.stat().st_size if log.exists() else 0))
    port = int(sb.state["nginx"]["http_port"])
    for method, path in WRITE_REQUESTS:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: "
                      "Mozilla/5.0 (scanner)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                      .encode())
            with contextlib.suppress(OSError):
                while s.recv(65536):
                    pass


def _revert_writes(sb: Sandbox) -> None:
    mark = _offset_file(sb)
    if mark.exists():
        os.truncate(sb.state["nginx"]["access_log"], int(mark.read_text()))
        mark.unlink()


# --- alert rules ------------------------------------------------------------------------------
def _write_rules(sb: Sandbox, rules: dict) -> None:  # type: ignore[type-arg]
    path = sb.path("monitoring", "rules.yml")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(rules, sort_keys=False))
    tmp.replace(path)
    monitoring._reload_prometheus(sb)


def _inject_rule_missing(sb: Sandbox) -> None:
    groups = [{**g, "rules": [r for r in g["rules"] if r.get("alert") != "HighErrorRate"]}
              for g in monitoring.RULES["groups"]]
    _write_rules(sb, {"groups": groups})


def _revert_rule_missing(sb: Sandbox) -> None:
    _write_rules(sb, monitoring.RULES)


# --- availability -----------------------------------------------------------------------------
def _job_health(sb: Sandbox) -> str:
    return next((t["health"] for t in monitoring.targets(sb) if t["job"] == DIP_JOB), "absent")


def _wait_health(sb: Sandbox, health: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _job_health(sb) != health:
        if time.monotonic() > deadline:
            raise SandboxError(f"job {DIP_JOB} not {health} after {timeout:.0f}s")
        time.sleep(0.1)


def _inject_dip(sb: Sandbox) -> None:
    """A target down (refused) until its exporter starts, then up: a past outage of a few
    seconds, not a current one. One failed scrape in a 1-minute window is 3 % down."""
    port = sb.port("posture_dip_exporter")
    monitoring.add_scrape_target(sb, DIP_JOB, f"127.0.0.1:{port}")
    _wait_health(sb, "down")
    www = sb.path("monitoring", "dip-exporter")
    www.mkdir(parents=True, exist_ok=True)
    (www / "metrics").write_text("# TYPE billing_queue_depth gauge\nbilling_queue_depth 3\n")
    sb.spawn(EXPORTER_OWNER, [sys.executable, "-m", "http.server", str(port), "--bind",
                              "127.0.0.1", "--directory", str(www)], log="posture-exporter.log")
    _wait_health(sb, "up")


def _revert_dip(sb: Sandbox) -> None:
    if DIP_JOB in sb.state.get("monitoring", {}).get("extra_targets", {}):
        monitoring.remove_scrape_target(sb, DIP_JOB)
        _wait_health(sb, "absent")
    sb.stop_processes(EXPORTER_OWNER, timeout=3)
    delete_series(sb, f'{{job="{DIP_JOB}"}}')


# --- nginx ------------------------------------------------------------------------------------
def _inject_buffering(sb: Sandbox) -> None:
    nginx.configure(sb, upload_buffering=True)


def _revert_buffering(sb: Sandbox) -> None:
    if "upload_buffering" in sb.state.get("nginx", {}).get("options", {}):
        nginx.reset(sb, "upload_buffering")


FAULTS: list[Fault] = [
    Fault("closed_port_listening", "security",
          "a TCP listener accepts connections on the loopback port declared closed "
          "(the database published on the host)", _inject_listener, _revert_listener),
    Fault("container_failed_logins", "security",
          f"the backend container logs {FAILED_LOGINS} failed logins on stdout",
          _inject_failed_logins, _restorer("backend")),
    Fault("writes_outside_api_in_log", "security",
          f"{len(WRITE_REQUESTS)} POST/PUT/PATCH/DELETE requests to non-API paths hit nginx "
          "(access log)", _inject_writes, _revert_writes),
    Fault("container_rate_limit_logs", "health",
          f"the worker logs 'FDA API rate limit reached' {RATE_LIMIT_LINES} times",
          _inject_rate_limit, _revert_rate_limit),
    Fault("alert_rule_missing", "health",
          "Prometheus reloaded with a rule file that lost the HighErrorRate alert",
          _inject_rule_missing, _revert_rule_missing),
    Fault("availability_dip", "performance",
          f"scrape target {DIP_JOB} refused its first scrapes (a few seconds), then came "
          "back up",
          _inject_dip, _revert_dip),
    Fault("nginx_upload_buffering_on", "health",
          "nginx buffers upload request bodies (proxy_request_buffering on for /api/upload)",
          _inject_buffering, _revert_buffering),
]
