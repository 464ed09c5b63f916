"""Availability over a window from Prometheus' ``up`` series, with the span actually covered.

``avg_over_time(up[30d])`` is the share of successful scrapes of each target over the window:
the runbook's "Availability > 99.9 % uptime". Prometheus often holds less than the window
(retention of 15 days, a new server, a new target): the average is then over what it holds,
so the covered span (samples x scrape interval) is reported next to it, never hidden.

Series of targets Prometheus no longer scrapes (removed from the configuration,
decommissioned) are left out and listed apart: their old samples are history, not a current
outage. (``and on(job, instance) up`` cannot do it: a target removed by a reload gets no
staleness marker, its last ``up`` sample stays visible for 5 minutes.) Down targets are still
active, so they count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests

from opsverify.probes import slo
from opsverify.probes.monitoring import _get_json

DEFAULT_QUERY = "avg_over_time(up[$window])"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_s(text: str) -> float:
    """Seconds of a Prometheus duration (``30d``, ``1h30m``, ``2s``).

    >>> duration_s("1h30m")
    5400.0
    """
    return float(sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)))


def human(seconds: float) -> str:
    """``45s``, ``12m``, ``3.5h``, ``21.0d``."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def query_for(window: str, overrides: dict[str, str] | None) -> tuple[str, str]:
    """(PromQL, origin); ``$window`` in an override is replaced by the window too."""
    text, origin = (overrides["availability"], "inventory prometheus.queries.availability") \
        if overrides and overrides.get("availability") else (DEFAULT_QUERY, "default")
    return text.replace("$window", window), origin


def scrape_intervals(session: requests.Session, base_url: str, *, target: str,
                     timeout_s: float) -> dict[tuple[str, str], float]:
    """(job, instance) -> scrape interval in seconds, from the active targets."""
    data = _get_json(session, base_url.rstrip("/") + "/api/v1/targets?state=active",
                     target=target, timeout_s=timeout_s, ca_file=None)
    out: dict[tuple[str, str], float] = {}
    for t in (data.get("data") or {}).get("activeTargets") or []:
        labels = t.get("labels") or {}
        out[(str(labels.get("job", "")), str(labels.get("instance", "")))] = duration_s(
            str(t.get("scrapeInterval", "")))
    return out


@dataclass
class Availability:
    job: str
    instance: str
    pct: float
    samples: int
    scrape_interval_s: float
    covered_s: float  # samples x scrape interval: how much of the window Prometheus holds
    window_s: float

    @property
    def label(self) -> str:
        return f"{self.job}/{self.instance}" if self.instance else self.job or "(series)"

    @property
    def coverage_note(self) -> str:
        if not self.covered_s:  # a custom query's series: no per-target sample count
            return f"over {human(self.window_s)} (span covered by data unknown)"
        if self.covered_s >= self.window_s * 0.99:
            return f"over {human(self.window_s)}"
        return (f"over the {human(self.covered_s)} of data Prometheus holds "
                f"(window {human(self.window_s)})")


def measure(session: requests.Session, base_url: str, window: str,
            overrides: dict[str, str] | None, *, target: str,
            timeout_s: float) -> tuple[slo.PromResult, list[Availability], list[str]]:
    """The availability of each series the query returns, with its covered span; and the
    ``job/instance`` of series left out because Prometheus no longer scrapes that target."""
    promql, origin = query_for(window, overrides)
    result = slo.instant(session, base_url, promql, target=target, timeout_s=timeout_s,
                         origin=origin)
    counts = slo.instant(session, base_url, f"count_over_time(up[{window}])", target=target,
                         timeout_s=timeout_s)
    n_by = {(s.labels.get("job", ""), s.labels.get("instance", "")): s.value
            for s in counts.samples}
    interval_by = scrape_intervals(session, base_url, target=target, timeout_s=timeout_s)
    window_s = duration_s(window)
    out = []
    retired: list[str] = []
    for s in result.samples:
        key = (s.labels.get("job", ""), s.labels.get("instance", ""))
        if key[1] and key not in interval_by:
            retired.append(f"{key[0]}/{key[1]}")
            continue
        n = int(n_by.get(key, 0) or 0)
        interval = interval_by.get(key, 0.0)
        out.append(Availability(job=key[0], instance=key[1], pct=s.value * 100, samples=n,
                                scrape_interval_s=interval,
                                covered_s=min(window_s, n * interval), window_s=window_s))
    return result, out, retired
