"""HTTP endpoints: status, body, latency and trusted TLS; /metrics families; upload limits.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import HttpEndpoint, Inventory
from opsverify.probes import endpoints
from opsverify.probes import http as http_probe


def _ca(inventory: Inventory, item: HttpEndpoint) -> str | None:
    return str(inventory.resolve_path(item.ca_file)) if item.ca_file else None


def answering_endpoints(inventory: Inventory) -> list[tuple[str, Any]]:
    """http items (except upload-only ones: accepts_upload without expect_status, see HLT-011)"""
    return [(e.name, e) for e in inventory.http
            if e.accepts_upload is None or "expect_status" in e.model_fields_set]


def metrics_endpoints(inventory: Inventory) -> list[tuple[str, Any]]:
    """http items with expect_metrics"""
    return [(e.name, e) for e in inventory.http if e.expect_metrics]


def upload_endpoints(inventory: Inventory) -> list[tuple[str, Any]]:
    """http items with accepts_upload"""
    return [(e.name, e) for e in inventory.http if e.accepts_upload is not None]


@check(
    id="HLT-001",
    title="HTTP endpoints answer with the expected status and body, fast, over trusted TLS",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets=answering_endpoints,
    rationale="""The runbooks' first step after any change or alert is to call /health and
        /ready: a wrong status, a body that reports 'degraded' behind a 200, an answer slower
        than the latency budget, or a certificate the clients do not trust all mean users are
        affected even when the process is up. A 200 alone proves nothing: the body is
        compared with the expected JSON subset.""",
    remediation="""Open the endpoint's body and the backend logs (docker logs / journalctl):
        a 'degraded' or 'not ready' body names the failing dependency (database, Redis,
        storage) - restore that dependency first. A 5xx from the proxy means the backend is
        down: restart the service and check its health. A TLS error means the served
        certificate is not signed by the expected CA or does not match the name: redeploy
        the right chain.""",
    references=["runbook 000 DICOM viewer: Health check", "runbook: Daily checks"],
)
def test_endpoint_answers_as_expected(target: HttpEndpoint, inventory: Inventory,
                                      http_session: requests.Session) -> None:
    timeout_s = inventory.threshold("timeout_s", target)
    latency_ms = inventory.threshold("latency_p95_ms", target)
    obs = http_probe.fetch(http_session, target.url, target=target.name, timeout_s=timeout_s,
                           method=target.method, ca_file=_ca(inventory, target),
                           resolve=target.resolve)
    attach("response", obs.summary())
    attach_threshold(expect_status=target.expect_status, latency_ms=latency_ms,
                     expect_json=json.dumps(target.expect_json) if target.expect_json else "-")
    problems: list[str] = []
    if obs.status != target.expect_status:
        problems.append(f"status {obs.status} {obs.reason}, expected {target.expect_status}")
    if target.expect_json is not None:
        try:
            body = json.loads(obs.body)
        except ValueError:
            problems.append(f"body is not JSON (starts {obs.text()[:60]!r}), expected "
                            f"{json.dumps(target.expect_json)}")
        else:
            problems.extend(endpoints.json_mismatches(target.expect_json, body))
    for name, want in (target.expect_headers or {}).items():
        got = next((v for k, v in obs.headers.items() if k.lower() == name.lower()), None)
        if got is None:
            problems.append(f"header {name} is missing")
        elif want not in got:
            problems.append(f"header {name} is {got!r}, expected it to contain {want!r}")
    if target.expect_body is not None and target.expect_body not in obs.text():
        problems.append(f"body does not contain {target.expect_body!r}")
    elapsed_ms = obs.elapsed_ms
    if elapsed_ms > latency_ms:
        # One slow answer can be a stall of the checking machine itself; an endpoint that is
        # slow twice in a row is slow. The better of two samples is compared.
        again = http_probe.fetch(http_session, target.url, target=target.name,
                                 timeout_s=timeout_s, method=target.method,
                                 ca_file=_ca(inventory, target), resolve=target.resolve)
        attach("second sample (first was slow)", again.summary())
        elapsed_ms = min(elapsed_ms, again.elapsed_ms)
    if elapsed_ms > latency_ms:
        problems.append(f"answered in {elapsed_ms:.0f} ms (best of 2), limit {latency_ms:g} ms")
    assert not problems, f"{target.name}: {target.url}: " + "; ".join(problems)


@check(
    id="HLT-002",
    title="Metrics endpoints expose valid Prometheus metrics with the expected families",
    severity="normal",
    schedules=["daily", "postdeploy"],
    targets=metrics_endpoints,
    rationale="""Alerting and dashboards only see what /metrics exposes: an exposition that
        no longer parses, or a deploy that lost a metric family, silently blinds every alert
        built on it (a rate() of a missing series is simply empty, never red).""",
    remediation="""Compare the /metrics output with the families listed in the inventory:
        a family missing after a deploy means the instrumentation was removed or renamed -
        restore it or update the alert rules and the inventory together. A parse error points
        at a hand-written exporter: fix its output format.""",
    references=["runbook: Monitoring", "https://prometheus.io/docs/instrumenting/exposition_formats/"],
)
def test_metrics_expose_expected_families(target: HttpEndpoint, inventory: Inventory,
                                          http_session: requests.Session) -> None:
    obs = http_probe.fetch(http_session, target.url, target=target.name,
                           timeout_s=inventory.threshold("timeout_s", target),
                           ca_file=_ca(inventory, target), resolve=target.resolve,
                           max_body=8 * 1024 * 1024)
    assert obs.status == 200, (
        f"{target.name}: {target.url} answered {obs.status} {obs.reason}, expected 200 with "
        "Prometheus metrics")
    metrics = endpoints.parse_metrics(obs.text())
    expected = list(target.expect_metrics or [])
    missing = [name for name in expected if not metrics.has(name)]
    attach("metrics", {"url": target.url, "families": metrics.families,
                       "samples": metrics.samples, "parse_error": metrics.parse_error,
                       "expected": expected, "missing": missing,
                       "body_truncated": obs.body_truncated})
    assert metrics.parse_error is None, (
        f"{target.name}: {target.url} is not valid Prometheus text exposition: "
        f"{metrics.parse_error}" + (" (body cut at 8 MiB)" if obs.body_truncated else ""))
    assert not missing, (
        f"{target.name}: {target.url} lacks metric famil{'y' if len(missing) == 1 else 'ies'} "
        f"{', '.join(missing)} (exposes {len(metrics.families)} families; expected "
        f"{', '.join(expected)})")


@check(
    id="HLT-011",
    title="Upload endpoints accept request bodies of the promised size",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=upload_endpoints,
    rationale="""Studies of several GB are uploaded through the reverse proxy: a
        client_max_body_size left at nginx's 1 MB default (or lowered by a config change)
        makes every large upload fail with 413 while small test uploads still work. The
        limit is probed with a declared Content-Length and Expect: 100-continue: the proxy
        answers before any byte of the body is sent, so nothing is uploaded.""",
    remediation="""Set client_max_body_size (nginx) or the ingress' proxy-body-size to at
        least the promised size on the upload location, together with proxy_request_buffering
        off and long enough proxy timeouts; reload the proxy and re-run this check.""",
    references=["runbook 000 DICOM viewer: nginx upload limit (10 GB)"],
)
def test_upload_limit_accepts_promised_size(target: HttpEndpoint, inventory: Inventory) -> None:
    size = int(target.accepts_upload or 0)
    obs = endpoints.probe_upload(target.url, size, target=target.name,
                                 timeout_s=inventory.threshold("timeout_s", target),
                                 ca_file=_ca(inventory, target), resolve=target.resolve,
                                 method="POST" if target.method == "GET" else target.method)
    attach("upload probe", obs)
    attach_threshold(accepts_upload_bytes=size)
    assert obs.accepted, (
        f"{target.name}: {target.url} refused an upload of {size / 2**30:g} GiB ({size} bytes) "
        f"with {obs.status} {obs.reason} before any byte was sent: the proxy's body size "
        f"limit is below the promised {size / 2**30:g} GiB")
