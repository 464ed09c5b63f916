"""Availability over a window (the runbook's "> 99.9 % uptime"), from Prometheus' ``up``.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

import math

import requests

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory, Prometheus
from opsverify.probes import availability


@check(
    id="PRF-005",
    title="Availability of every scrape target over the window meets the objective",
    severity="critical",
    schedules=["daily", "weekly"],
    targets="prometheus",
    rationale="""A target up now can still have missed its objective: restarts, crash loops
        and night-time outages that no one saw add up. The share of successful scrapes over
        the window (`avg_over_time(up[30d])`) is the uptime the runbook commits to
        (> 99.9 %, about 43 minutes a month).""",
    remediation="""Find when the target was down (`up{job="..."} == 0` over the window in
        Prometheus), match it with restarts (`docker inspect` RestartCount, OOM kills) and
        deploys, and fix the cause; if Prometheus holds less than the window, the evidence
        says over which span the figure was measured.""",
    references=["runbook 004 regulatory assistant: Application Metrics (Availability > 99.9% "
                "uptime)"],
)
def test_availability_meets_objective(target: Prometheus, inventory: Inventory,
                                      http_session: requests.Session) -> None:
    objective = inventory.threshold("availability_min_pct")
    attach_threshold(availability_min_pct=objective, window=target.availability_window)
    result, series, retired = availability.measure(
        http_session, target.url, target.availability_window, target.queries,
        target="prometheus", timeout_s=inventory.threshold("timeout_s"))
    attach("promql availability", result.summary())
    attach("availability by target", {"targets": series,
                                       "left_out_no_longer_scraped": retired})
    assert series, (f"prometheus: the availability query returned no data: no target is "
                    f"scraped, or prometheus.queries.availability matches nothing. "
                    f"PromQL: {result.query}")
    low = [a for a in series if math.isnan(a.pct) or a.pct < objective]
    assert not low, "prometheus: " + "; ".join(
        f"{a.label} available {a.pct:.3f}% {a.coverage_note}, below "
        f"availability_min_pct {objective:g}%" for a in low) + f". PromQL: {result.query}"
