"""Server-side SLOs from Prometheus: what every user saw over the last minutes, not a sample.

The PromQL is the runbooks' by default and can be replaced per environment under
``prometheus.queries`` (keys ``error_ratio``, ``latency_p95``, ``request_rate``); the query
that ran is in the evidence. A query that returns nothing fails: it means the metric is not
scraped or the query does not match, and an SLO nobody can measure is not met.
"""

from __future__ import annotations

import math
from typing import Any

import requests

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import slo

NO_DATA = ("returned no data: the metric is not scraped (check the Prometheus target) or the "
           "query matches nothing (override prometheus.queries.{key} in the inventory)")


def _run(key: str, target: Any, inventory: Inventory,
         session: requests.Session) -> slo.PromResult:
    promql, origin = slo.query_for(key, target.queries)
    result = slo.instant(session, target.url, promql, target="prometheus",
                         timeout_s=inventory.threshold("timeout_s"), origin=origin)
    attach(f"promql {key}", result.summary())
    assert not result.empty, f"prometheus: {key} query {NO_DATA.format(key=key)}. " \
                             f"PromQL: {promql}"
    return result


@check(
    id="PRF-002",
    title="The server-side 5xx ratio over 5 minutes stays below the error-rate limit",
    severity="critical",
    schedules=["daily", "postdeploy"],
    targets="prometheus",
    rationale="""The runbooks alert on an error rate above 1 % (5 % pages someone). Prometheus
        sees every request the service answered, so this is the error rate users actually got,
        not a sample.""",
    remediation="""Runbook 'High Error Rates': find the failing route in http_requests_total by
        status and path, read the application logs around the first 5xx, check the database
        and Redis, and roll back the last deploy if it started with it.""",
    references=["runbook 003 SpherosegV4: Application Metrics (error rate PromQL)",
                "runbook 000 DICOM viewer: Alert Configuration (HighErrorRate)"],
)
def test_server_error_ratio(target: Any, inventory: Inventory,
                            http_session: requests.Session) -> None:
    limit = inventory.threshold("error_rate_max")
    attach_threshold(error_rate_max=limit)
    result = _run("error_ratio", target, inventory, http_session)
    undefined = result.undefined
    assert not undefined, (
        f"prometheus: the 5xx ratio is undefined (NaN) for "
        f"{', '.join(s.label_text() for s in undefined[:3])}: no requests in the window, so "
        f"the error rate cannot be verified. PromQL: {result.query}")
    over = [s for s in result.samples if s.value > limit]
    assert not over, "prometheus: " + "; ".join(
        f"5xx ratio {s.value:.2%} {s.label_text() + ' ' if s.labels else ''}exceeds "
        f"error_rate_max {limit:.1%}" for s in over) + f". PromQL: {result.query}"


@check(
    id="PRF-003",
    title="The server-side p95 request latency stays below the latency target",
    severity="normal",
    schedules=["daily", "postdeploy"],
    targets="prometheus",
    rationale="""histogram_quantile over the request-duration histogram gives the p95 of every
        request in the window, the figure the runbooks' latency SLO (p95 < 500 ms) and their
        HighLatency alerts are written against.""",
    remediation="""Runbook 'Slow Response Times': break the latency down by route
        (sum by (le, path)), then look at the slow route's database queries
        (pg_stat_statements), cache hit rate and resource usage.""",
    references=["runbook 003 SpherosegV4: Application Metrics (p95 PromQL)",
                "runbook 001 Horalix View: Monitoring (P95 < 500ms)"],
)
def test_server_p95_latency(target: Any, inventory: Inventory,
                            http_session: requests.Session) -> None:
    limit_ms = inventory.threshold("latency_p95_ms")
    attach_threshold(latency_p95_ms=limit_ms)
    result = _run("latency_p95", target, inventory, http_session)
    defined = [s for s in result.samples if not math.isnan(s.value)]
    assert defined, (f"prometheus: the p95 latency is undefined (NaN): no requests were "
                     f"observed in the window. PromQL: {result.query}")
    over = [s for s in defined if s.value * 1000 > limit_ms]
    assert not over, "prometheus: " + "; ".join(
        f"p95 latency {s.value * 1000:.0f} ms {s.label_text() + ' ' if s.labels else ''}"
        f"exceeds latency_p95_ms {limit_ms:g} ms" for s in over) + f". PromQL: {result.query}"


@check(
    id="PRF-004",
    title="Prometheus records the service's traffic, above the request-rate floor",
    severity="normal",
    schedules=["daily"],
    targets="prometheus",
    rationale="""Every other SLO is computed from these series: if they are missing, the
        dashboards and alerts are blind and a 'no errors' reading means nothing. A rate below
        the floor (runbook: throughput > 100 req/min) also means users cannot reach the
        service.""",
    remediation="""Check the scrape target of the service in Prometheus (Status > Targets:
        up, right port and path), that the application exposes http_requests_total, and the
        load balancer in front of the service if the rate dropped.""",
    references=["runbook 002 AlloDoc: Application Metrics (throughput > 100 req/min)",
                "runbook 003 SpherosegV4: Application Metrics (request rate PromQL)"],
)
def test_request_rate_recorded(target: Any, inventory: Inventory,
                               http_session: requests.Session) -> None:
    floor = inventory.threshold("request_rate_min")
    attach_threshold(request_rate_min=floor)
    result = _run("request_rate", target, inventory, http_session)
    low = [s for s in result.samples if math.isnan(s.value) or s.value < floor]
    assert not low, "prometheus: " + "; ".join(
        f"request rate {s.value:.3f} req/s {s.label_text() + ' ' if s.labels else ''}"
        f"is below request_rate_min {floor:g} req/s" for s in low) + f". PromQL: {result.query}"
