"""Active latency: a bounded burst against each HTTP endpoint, as a user would see it."""

from __future__ import annotations

from typing import Any

import pytest

from opsverify.catalog import check
from opsverify.evidence import attach, attach_svg, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import latency


def _budget(inv: Inventory) -> float:
    return inv.threshold("probe_time_cap_s") + 2 * inv.threshold("timeout_s") + 30


@check(
    id="PRF-001",
    title="Endpoints answer within the p95 latency target and below the error-rate limit",
    severity="critical",
    schedules=["daily", "postdeploy"],
    targets="http",
    budget_s=_budget,
    rationale="""Users feel the slow tail, not the average: the runbooks set p95 < 500 ms
        (2 s for heavy APIs) and an error rate below 1 %. A bounded burst (probe_requests,
        probe_concurrency, probe_time_cap_s) measures both from outside, independently of the
        application's own metrics, without turning the check into a load test.""",
    remediation="""Runbook 'Slow Response Times': look at the endpoint's slow path (database
        queries, pg_stat_statements, Redis hit rate), recent deploys and resource usage; for
        errors read the application logs for the failing requests and roll back a bad deploy.""",
    references=["runbook 001 Horalix View: Monitoring (P95 < 500ms, error rate < 1%)",
                "runbook 002 AlloDoc: Key Metrics to Monitor",
                "runbook 004 Medical Device Regulatory Assistant: Application Metrics"],
)
def test_latency_and_error_rate_within_limits(target: Any, inventory: Inventory) -> None:
    if target.method not in ("GET", "HEAD"):
        pytest.skip(f"{target.name}: {target.method} endpoints are not probed "
                    "(a burst of them would change the target)")
    p95_max = inventory.threshold("latency_p95_ms", target)
    err_max = inventory.threshold("error_rate_max", target)
    n = int(inventory.threshold("probe_requests", target))
    conc = int(inventory.threshold("probe_concurrency", target))
    cap = inventory.threshold("probe_time_cap_s", target)
    attach_threshold(latency_p95_ms=p95_max, error_rate_max=err_max, probe_requests=n,
                     probe_concurrency=conc, probe_time_cap_s=cap)
    ca_file = str(inventory.resolve_path(target.ca_file)) if target.ca_file else None
    with latency.new_session(target.url, conc, target.resolve) as session:
        obs = latency.burst(session, target.url, target=target.name, requests_max=n,
                            concurrency=conc, time_cap_s=cap,
                            timeout_s=inventory.threshold("timeout_s", target),
                            method=target.method, ca_file=ca_file, resolve=target.resolve)
    attach("latency", obs.summary())
    attach_svg("latency histogram", latency.histogram_svg(obs, p95_max))

    problems = []
    p95 = obs.p(95)
    if p95 > p95_max:
        problems.append(
            f"p95 latency {p95:.0f} ms exceeds latency_p95_ms {p95_max:g} ms "
            f"(p50 {obs.p(50):.0f} ms, p99 {obs.p(99):.0f} ms over {len(obs.latencies_ms)} "
            f"measured requests)")
    if obs.error_rate > err_max:
        kinds = ", ".join(f"{k} x{v}" for k, v in obs.error_kinds.items())
        problems.append(
            f"{obs.errors} of {obs.sent} requests failed: error rate {obs.error_rate:.1%} "
            f"exceeds error_rate_max {err_max:.1%} ({kinds})")
    capped = (f"; the burst stopped at probe_time_cap_s {cap:g}s after {obs.sent} of {n} "
              "requests") if obs.time_capped else ""
    assert not problems, f"{target.name}: {target.url}: " + "; ".join(problems) + capped
