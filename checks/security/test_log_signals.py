"""Security signals in logs: failed-login bursts and injection attempts (last 24 h)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fixtures.security import access_logs, log_dirs
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import container_logs, log_signals


@dataclass(frozen=True)
class DockerService:
    name: str
    project: str | None


def docker_services(inv: Inventory) -> list[tuple[str, Any]]:
    """docker services (their containers' stdout/stderr logs)"""
    d = inv.docker
    if d is None:
        return []
    return [(s, DockerService(s, d.project)) for s in d.services]


def write_logs(inv: Inventory) -> list[tuple[str, Any]]:
    """security.write_paths (applied to security.access_logs)"""
    if inv.security is None or inv.security.write_paths is None:
        return []
    return access_logs(inv)


def _judge_failed_logins(name: str, obs: log_signals.SignalCount, inventory: Inventory,
                         evidence: str, where: str) -> None:
    """SEC-022 (log files) and SEC-029 (container stdout): one rule, one message."""
    limit = int(inventory.threshold("failed_logins_max"))
    attach(evidence, obs)
    attach_threshold(failed_logins_max=limit)
    top = ", ".join(f"{ip} ({n})" for ip, n in obs.top_sources) or "none"
    assert obs.count <= limit, (
        f"{name}: {obs.count} failed logins{where} in the last 24 h (threshold {limit}); "
        f"top sources: {top}")


@check(
    id="SEC-022",
    title="Failed logins in the last 24 h stay under the threshold",
    severity="normal",
    schedules=["daily"],
    targets=log_dirs,
    rationale="A burst of failed logins is password guessing or credential stuffing in "
              "progress; the runbooks ask for this grep daily.",
    remediation="Look at the top source addresses in the evidence: block them (nginx `deny`, "
                "firewall), check whether any of the targeted accounts then logged in "
                "successfully, enforce rate limiting on the login route.",
    references=["runbook 000 DICOM viewer: Check for failed login attempts",
                "runbook 002: Check authentication failures",
                "runbook 003: Check failed login attempts"],
)
def test_failed_logins_under_threshold(target, inventory, testinfra_host):
    host = testinfra_host(target.host)
    lines, files, truncated = log_signals.grep_host_logs(
        host, target.host.name, target.path, log_signals.FAILED_LOGIN_RE, target=target.name)
    obs = log_signals.count_failed_logins(lines)
    obs.files, obs.truncated = files, truncated
    _judge_failed_logins(target.name, obs, inventory, "failed logins (last 24 h)", "")


@check(
    id="SEC-023",
    title="Access logs show no injection-looking requests in the last 24 h",
    severity="normal",
    schedules=["daily"],
    targets=access_logs,
    rationale="Requests with UNION SELECT, <script or ../ are someone probing for SQL "
              "injection, XSS or path traversal; even failed attempts say an attack is on.",
    remediation="Identify the source addresses in the evidence and block them; check the "
                "responses those requests got (status 200 on an injection attempt needs an "
                "incident review), and consider a WAF rule set on nginx.",
    references=["runbook 002: Review nginx access logs for suspicious patterns",
                "runbook 000 DICOM viewer: Monitor suspicious activity"],
)
def test_no_injection_requests(target, inventory):
    lines = log_signals.read_local_tail(target, target=target)
    obs = log_signals.count_injections(lines)
    obs.files = [target]
    limit = int(inventory.threshold("suspicious_requests_max"))
    attach("injection-looking requests (last 24 h)", obs)
    attach_threshold(suspicious_requests_max=limit)
    kinds = ", ".join(f"{k}: {n}" for k, n in obs.kinds.items())
    top = ", ".join(f"{ip} ({n})" for ip, n in obs.top_sources) or "none"
    assert obs.count <= limit, (
        f"{target}: {obs.count} injection-looking requests in the last 24 h (threshold {limit}; "
        f"{kinds}); top sources: {top}")


@check(
    id="SEC-029",
    title="Failed logins in the containers' logs (stdout) stay under the threshold",
    severity="normal",
    schedules=["daily"],
    targets=docker_services,
    rationale="Containerised backends log to stdout, not to files: password guessing against "
              "them shows only in `docker compose logs`, which the runbooks grep daily for "
              "failed logins.",
    remediation="Look at the top source addresses in the evidence (`docker compose logs "
                "--since 24h SERVICE | grep -i 'failed login'`): block them, check whether a "
                "targeted account then logged in, enforce rate limiting on the login route.",
    references=["runbook 000 DICOM viewer: Security Monitoring (authentication failed)",
                "runbook 003 SpherosegV4: Security Checklist (Failed login)"],
)
def test_failed_logins_in_container_logs(target, inventory, docker_client):
    names = container_logs.service_containers(docker_client, target.project, target.name,
                                              target=target.name)
    assert names, (f"{target.name}: no container of service {target.name} in project "
                   f"{target.project or '(any)'}: its logs cannot be read")
    since = dt.datetime.now(dt.UTC) - container_logs.WINDOW
    logs = container_logs.read_many(docker_client, names, since=since, target=target.name)
    obs = log_signals.count_failed_logins([ln for c in logs for ln in c.lines])
    obs.files = [f"container {n}" for n in names]
    obs.truncated = any(c.truncated for c in logs)
    attach("logs read", container_logs.summary(logs))
    _judge_failed_logins(target.name, obs, inventory,
                         "failed logins in container logs (last 24 h)",
                         f" in the logs of {', '.join(names)}")


@check(
    id="SEC-030",
    title="Access logs show no write requests (POST/PUT/PATCH/DELETE) outside the API paths",
    severity="normal",
    schedules=["daily"],
    targets=write_logs,
    rationale="A static frontend takes no writes: POST/PUT/DELETE to other paths are scanners "
              "trying upload forms, WebDAV or admin endpoints (`POST /wp-login.php`, `PUT "
              "/shell.php`). The runbook's security checklist looks for them in the nginx "
              "log.",
    remediation="Check the responses those requests got (a 2xx to a PUT outside the API needs "
                "an incident review), block the sources, and limit methods in nginx outside "
                "the API (`limit_except GET HEAD { deny all; }`). If a path legitimately takes "
                "writes (a login form), add its prefix to security.write_paths.",
    references=["runbook 003 SpherosegV4: Security Checklist (nginx logs: POST/PUT/DELETE "
                "outside /api)"],
)
def test_no_writes_outside_api(target, inventory):
    allowed = list(inventory.security.write_paths or [])
    lines = log_signals.read_local_tail(target, target=target)
    obs = log_signals.count_unexpected_writes(lines, allowed)
    obs.files = [target]
    limit = int(inventory.threshold("unexpected_writes_max"))
    attach("write requests outside the API (last 24 h)", obs)
    attach_threshold(unexpected_writes_max=limit, write_paths=", ".join(allowed) or "none")
    methods = ", ".join(f"{k}: {n}" for k, n in sorted(obs.by_method.items()))
    paths = ", ".join(f"{p} ({n})" for p, n in obs.top_paths)
    top = ", ".join(f"{ip} ({n})" for ip, n in obs.top_sources) or "none"
    assert obs.count <= limit, (
        f"{target}: {obs.count} write requests outside {', '.join(allowed) or '(no path)'} in "
        f"the last 24 h (threshold {limit}; {methods}); paths: {paths}; top sources: {top}")
