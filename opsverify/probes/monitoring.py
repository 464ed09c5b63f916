"""Prometheus targets and Alertmanager alerts, read through their HTTP APIs.

The monitoring stack is the runbooks' first source of truth ("is anything red?"); these
observations let a check ask it directly: which scrape targets are down (with Prometheus'
own ``lastError``) and which alerts are firing, with their severity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from opsverify.errors import ProbeError
from opsverify.probes import http as http_probe

#: Ordering of the usual ``severity`` label values; unknown values rank as ``warning``.
SEVERITY_RANK = {"none": 0, "info": 0, "low": 0, "warning": 1, "medium": 1, "error": 2,
                 "high": 2, "major": 2, "critical": 3, "page": 4, "disaster": 4}


def severity_rank(value: str | None) -> int:
    return SEVERITY_RANK.get((value or "").lower(), 1)


@dataclass
class ScrapeTarget:
    job: str
    instance: str
    health: str  # up, down, unknown
    last_error: str
    last_scrape: str
    scrape_url: str


@dataclass
class Alert:
    name: str
    severity: str
    state: str
    starts_at: str
    summary: str
    labels: dict[str, str]


def _get_json(session: requests.Session, url: str, *, target: str, timeout_s: float,
              ca_file: str | None) -> Any:
    obs = http_probe.fetch(session, url, target=target, timeout_s=timeout_s, ca_file=ca_file,
                           max_body=16 * 1024 * 1024)
    if obs.status != 200:
        raise ProbeError(target, f"{url} answered {obs.status} {obs.reason}")
    if obs.body_truncated:
        raise ProbeError(target, f"{url} answered more than 16 MiB: refusing to parse it")
    try:
        return json.loads(obs.body)
    except ValueError:
        raise ProbeError(target, f"{url} did not answer JSON") from None


def prometheus_targets(session: requests.Session, base_url: str, *, target: str,
                       timeout_s: float, ca_file: str | None = None) -> list[ScrapeTarget]:
    """The active scrape targets (``/api/v1/targets?state=active``)."""
    data = _get_json(session, base_url.rstrip("/") + "/api/v1/targets?state=active",
                     target=target, timeout_s=timeout_s, ca_file=ca_file)
    try:
        active = data["data"]["activeTargets"]
        return [ScrapeTarget(job=str(t.get("labels", {}).get("job", t.get("scrapePool", ""))),
                             instance=str(t.get("labels", {}).get("instance", "")),
                             health=str(t.get("health", "unknown")),
                             last_error=str(t.get("lastError", ""))[:300],
                             last_scrape=str(t.get("lastScrape", "")),
                             scrape_url=str(t.get("scrapeUrl", "")))
                for t in active]
    except (KeyError, TypeError, AttributeError):
        raise ProbeError(target, "Prometheus answered an unexpected targets document") from None


def active_alerts(session: requests.Session, base_url: str, *, target: str, timeout_s: float,
                  ca_file: str | None = None) -> list[Alert]:
    """Alerts Alertmanager considers active, neither silenced nor inhibited (API v2)."""
    url = base_url.rstrip("/") + "/api/v2/alerts?active=true&silenced=false&inhibited=false"
    data = _get_json(session, url, target=target, timeout_s=timeout_s, ca_file=ca_file)
    if not isinstance(data, list):
        raise ProbeError(target, "Alertmanager answered an unexpected alerts document")
    out = []
    for a in data:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        out.append(Alert(name=labels.get("alertname", "?"),
                         severity=labels.get("severity", ""),
                         state=str((a.get("status") or {}).get("state", "")),
                         starts_at=str(a.get("startsAt", "")),
                         summary=str((a.get("annotations") or {}).get("summary", ""))[:200],
                         labels=labels))
    return out
