"""Server-side SLOs read from Prometheus: instant PromQL queries with their exact text kept.

The default queries follow the runbooks (5xx ratio and p95 over 5 minutes, request rate);
an environment overrides any of them under ``prometheus.queries`` with the same key, e.g. to
add a ``job`` selector or use its own metric names. The evidence always shows the query that
ran, so a reader can paste it into Prometheus.

An empty answer is not "zero": it means the metric is not scraped or the query does not match
anything, and the checks report it as a finding instead of a pass.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from opsverify.errors import ProbeError
from opsverify.probes import http as http_probe

DEFAULT_QUERIES: dict[str, str] = {
    # ``or vector(0)``: a service that never answered 5xx has no 5xx series at all.
    "error_ratio": (
        '(sum(rate(http_requests_total{status=~"5.."}[5m])) or vector(0))'
        " / sum(rate(http_requests_total[5m]))"
    ),
    "latency_p95": (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
    ),
    "request_rate": "sum(rate(http_requests_total[5m]))",
}


def query_for(name: str, overrides: dict[str, str] | None) -> tuple[str, str]:
    """(PromQL, origin): the inventory's override for ``name`` or the runbook default."""
    if overrides and overrides.get(name):
        return overrides[name], "inventory prometheus.queries." + name
    return DEFAULT_QUERIES[name], "default"


@dataclass
class PromSample:
    labels: dict[str, str]
    value: float

    def label_text(self) -> str:
        shown = {k: v for k, v in self.labels.items() if k != "__name__"}
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


@dataclass
class PromResult:
    """The answer to one instant query."""

    query: str
    origin: str
    url: str
    samples: list[PromSample] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.samples

    @property
    def undefined(self) -> list[PromSample]:
        """Samples whose value is NaN (e.g. 0/0: no traffic in the window)."""
        return [s for s in self.samples if math.isnan(s.value)]

    def summary(self) -> dict[str, Any]:
        return {
            "prometheus": self.url,
            "promql": self.query,
            "query_origin": self.origin,
            "result": [{"series": s.label_text(),
                        "value": None if math.isnan(s.value) else s.value}
                       for s in self.samples[:50]],
            "series_count": len(self.samples),
        }


def instant(session: requests.Session, base_url: str, promql: str, *, target: str,
            timeout_s: float, origin: str = "default") -> PromResult:
    """Run one instant query; an unreachable Prometheus or a rejected query is a ProbeError."""
    url = base_url.rstrip("/") + "/api/v1/query?" + urlencode({"query": promql})
    obs = http_probe.fetch(session, url, target=target, timeout_s=timeout_s)
    try:
        body = json.loads(obs.body or b"{}")
    except ValueError:
        raise ProbeError(target, f"Prometheus at {base_url} answered {obs.status} with a "
                                 "non-JSON body (is this really Prometheus?)") from None
    if obs.status != 200 or body.get("status") != "success":
        raise ProbeError(target, f"Prometheus rejected the query ({obs.status}, "
                                 f"{body.get('errorType', '?')}: {body.get('error', '')[:200]}): "
                                 f"{promql}")
    data = body.get("data") or {}
    rtype, raw = data.get("resultType"), data.get("result")
    samples: list[PromSample] = []
    if rtype == "vector":
        for item in raw or []:
            samples.append(PromSample(dict(item.get("metric") or {}), _num(item["value"][1])))
    elif rtype == "scalar":
        samples.append(PromSample({}, _num(raw[1])))
    else:
        raise ProbeError(target, f"the query returned a {rtype}, expected an instant vector "
                                 f"or scalar: {promql}")
    return PromResult(query=promql, origin=origin, url=base_url, samples=samples)


def _num(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
