"""Prometheus and Alertmanager for the sandbox.

Prometheus scrapes the backend, Alertmanager and itself every 2 s (so a fault shows up within
seconds) and evaluates a small rule file (BackendDown, HighErrorRate, HighLatency); it sends
alerts to an Alertmanager started with ``--cluster.listen-address=`` (otherwise it would also
listen on 0.0.0.0:9094). ``ready`` returns only once every target has been scraped as up, so
the first check run never sees a not-yet-scraped target. Prometheus' discovery publishes
targets at most every 5 s (hard-coded): a new scrape target takes up to 5 s to appear.

Knobs for fault modules: :func:`add_scrape_target`, :func:`remove_scrape_target`,
:func:`post_alert`, :func:`resolve_alert`, :func:`prometheus_url`, :func:`alertmanager_url`,
:func:`wait_targets`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml

from .base import Component, Sandbox, SandboxError, require_binary, wait_port

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
SCRAPE_INTERVAL = "2s"

RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "sandbox",
            "rules": [
                {
                    "alert": "BackendDown",
                    "expr": 'up{job="backend"} == 0',
                    "for": "10s",
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "backend target is down"},
                },
                {
                    "alert": "HighErrorRate",
                    "expr": (
                        'sum(rate(http_requests_total{job="backend",status=~"5.."}[1m]))'
                        ' / sum(rate(http_requests_total{job="backend"}[1m])) > 0.05'
                    ),
                    "for": "30s",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "more than 5% of backend requests fail"},
                },
                {
                    "alert": "HighLatency",
                    "expr": (
                        "histogram_quantile(0.95, sum by (le) (rate("
                        'http_request_duration_seconds_bucket{job="backend"}[1m]))) > 0.5'
                    ),
                    "for": "30s",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "backend p95 latency above 500 ms"},
                },
            ],
        }
    ]
}


def prometheus_url(sb: Sandbox, path: str = "") -> str:
    return f"http://127.0.0.1:{sb.state['monitoring']['prometheus_port']}{path}"


def alertmanager_url(sb: Sandbox, path: str = "") -> str:
    return f"http://127.0.0.1:{sb.state['monitoring']['alertmanager_port']}{path}"


def _dir(sb: Sandbox) -> Path:
    return sb.path("monitoring")


def _prometheus_config(sb: Sandbox) -> dict[str, Any]:
    m = sb.state["monitoring"]
    jobs: dict[str, list[str]] = {
        "prometheus": [f"127.0.0.1:{m['prometheus_port']}"],
        "alertmanager": [f"127.0.0.1:{m['alertmanager_port']}"],
        "backend": [f"127.0.0.1:{sb.port('backend')}"],  # allocated now if not started yet
        **m.get("extra_targets", {}),
    }
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": "1s",
            "evaluation_interval": SCRAPE_INTERVAL,
            "external_labels": {"environment": "sandbox"},
        },
        "rule_files": [str(_dir(sb) / "rules.yml")],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{m['alertmanager_port']}"]}]}
            ]
        },
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in jobs.items()
        ],
    }


def _write_prometheus_config(sb: Sandbox) -> None:
    path = _dir(sb) / "prometheus.yml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(_prometheus_config(sb), sort_keys=False))
    tmp.replace(path)


def _reload_prometheus(sb: Sandbox) -> None:
    """POST /-/reload (lifecycle API): synchronous, returns once the config is applied."""
    resp = requests.post(prometheus_url(sb, "/-/reload"), timeout=10)
    if resp.status_code != 200:
        raise SandboxError(f"prometheus reload failed: {resp.status_code} {resp.text[:200]}")


def targets(sb: Sandbox) -> list[dict[str, Any]]:
    """Prometheus' active targets (job, instance, health)."""
    resp = requests.get(prometheus_url(sb, "/api/v1/targets?state=active"), timeout=5)
    resp.raise_for_status()
    return [
        {
            "job": t["labels"].get("job"),
            "instance": t["labels"].get("instance"),
            "health": t["health"],
        }
        for t in resp.json()["data"]["activeTargets"]
    ]


def wait_targets(
    sb: Sandbox, *, timeout: float = 15.0, expect: dict[str, str] | None = None
) -> None:
    """Wait until the targets have the expected health (default: every target ``up``)."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            seen = targets(sb)
        except requests.RequestException:
            seen = []
        if seen:
            health = {t["job"]: t["health"] for t in seen}
            if expect is None and all(h == "up" for h in health.values()):
                return
            if expect is not None and all(health.get(j) == h for j, h in expect.items()):
                return
        time.sleep(0.2)
    raise SandboxError(f"prometheus targets not as expected after {timeout:.0f}s: {seen}")


def add_scrape_target(sb: Sandbox, job: str, target: str, *, wait: bool = True) -> None:
    """Add a scrape job (e.g. a target that is down) and reload; wait until it has been scraped.

    >>> add_scrape_target(sb, "billing", "127.0.0.1:9")          # doctest: +SKIP
    """
    m = sb.state["monitoring"]
    m.setdefault("extra_targets", {})[job] = [target]
    sb.save()
    _write_prometheus_config(sb)
    _reload_prometheus(sb)
    if wait:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(t["job"] == job and t["health"] != "unknown" for t in targets(sb)):
                return
            time.sleep(0.2)
        raise SandboxError(f"prometheus did not scrape the new job {job} within 15s")


def remove_scrape_target(sb: Sandbox, job: str) -> None:
    m = sb.state["monitoring"]
    m.setdefault("extra_targets", {}).pop(job, None)
    sb.save()
    _write_prometheus_config(sb)
    _reload_prometheus(sb)


def _alert_body(
    labels: dict[str, str], annotations: dict[str, str] | None, ends: dt.datetime | None
) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": now.isoformat(),
        "generatorURL": "http://127.0.0.1/opsverify-sandbox",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return [body]


def post_alert(
    sb: Sandbox,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    *,
    duration_s: float = 3600,
) -> None:
    """Fire an alert in Alertmanager (``POST /api/v2/alerts``), active for ``duration_s``.

    >>> post_alert(sb, {"alertname": "DiskFull", "severity": "critical"})  # doctest: +SKIP
    """
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=duration_s)
    resp = requests.post(
        alertmanager_url(sb, "/api/v2/alerts"),
        json=_alert_body(labels, annotations, ends),
        timeout=5,
    )
    if resp.status_code != 200:
        raise SandboxError(f"alertmanager refused the alert: {resp.status_code} {resp.text[:200]}")


def resolve_alert(sb: Sandbox, labels: dict[str, str]) -> None:
    """Resolve an alert posted with :func:`post_alert` (same labels, ``endsAt`` now)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    body = _alert_body(labels, None, now)
    body[0]["startsAt"] = (now - dt.timedelta(seconds=1)).isoformat()
    resp = requests.post(alertmanager_url(sb, "/api/v2/alerts"), json=body, timeout=5)
    if resp.status_code != 200:
        raise SandboxError(f"alertmanager refused the resolve: {resp.status_code}")


def active_alerts(sb: Sandbox) -> list[dict[str, Any]]:
    resp = requests.get(alertmanager_url(sb, "/api/v2/alerts?active=true"), timeout=5)
    resp.raise_for_status()
    alerts: list[dict[str, Any]] = resp.json()
    return alerts


def _stop(sb: Sandbox, *owners: str) -> None:
    """TERM every owner's processes first so they shut down in parallel, then reap them."""
    for owner in owners:
        for pid in sb.state.get("pids", {}).get(owner, []):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).send_signal(signal.SIGTERM)
    for owner in owners:
        sb.stop_processes(owner, timeout=3)


class MonitoringComponent(Component):
    """Prometheus (2 s scrapes, alert rules) and Alertmanager, on loopback only."""

    name = "monitoring"

    def up(self, sb: Sandbox) -> None:
        prom = require_binary(PROMETHEUS, "prometheus")
        am = require_binary(ALERTMANAGER, "prometheus-alertmanager")
        d = _dir(sb)
        for sub in ("prometheus-data", "alertmanager-data"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        sb.state["monitoring"] = {
            "prometheus_port": sb.port("prometheus"),
            "alertmanager_port": sb.port("alertmanager"),
            "extra_targets": {},
        }
        sb.save()
        m = sb.state["monitoring"]
        (d / "rules.yml").write_text(yaml.safe_dump(RULES, sort_keys=False))
        (d / "alertmanager.yml").write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "null",
                        "group_by": ["alertname"],
                        "group_wait": "1s",
                        "group_interval": "5s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [{"name": "null"}],
                },
                sort_keys=False,
            )
        )
        _write_prometheus_config(sb)
        sb.spawn(
            "alertmanager",
            [
                am,
                f"--config.file={d / 'alertmanager.yml'}",
                f"--storage.path={d / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{m['alertmanager_port']}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            cwd=d,
        )
        sb.spawn(
            "prometheus",
            [
                prom,
                f"--config.file={d / 'prometheus.yml'}",
                f"--storage.tsdb.path={d / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{m['prometheus_port']}",
                "--web.enable-lifecycle",
                # performance faults delete the request series on revert, so a 5-minute SLO
                # window does not carry one fault's 5xx or latency into the next run
                "--web.enable-admin-api",
                # hidden flag, default 5s: new targets would wait that long for a first scrape
                "--scrape.discovery-reload-interval=500ms",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            cwd=d,
        )
        wait_port(int(m["alertmanager_port"]), timeout=15)
        wait_port(int(m["prometheus_port"]), timeout=15)
        sb.inventory_section("prometheus", {"url": prometheus_url(sb)})
        sb.inventory_section("alertmanager", {"url": alertmanager_url(sb)})

    def ready(self, sb: Sandbox) -> None:
        """Every target scraped as up: the first check run must not see 'unknown' targets."""
        wait_targets(sb, timeout=20)

    def down(self, sb: Sandbox) -> None:
        _stop(sb, "prometheus", "alertmanager")
