"""Posture declarations of the sandbox: what must NOT be there, and what the runbooks grep for.

Started last, once every other component has written its inventory section, it adds the keys
the posture checks read (it starts no process):

- ``security.closed_ports``: a free loopback port standing for "PostgreSQL published on the
  host" (nothing listens there; the ``closed_port_listening`` fault starts a listener);
- ``security.write_paths``: the API prefix under which POST/PUT/PATCH/DELETE are legitimate;
- ``prometheus.expect_rules`` and a short ``availability_window`` (1m: with 2 s scrapes a
  dip of a few seconds shows at once; a real environment keeps the 30d default);
- ``docker.log_patterns``: the regulatory assistant's FDA rate-limit grep, on the worker;
- ``hosts[local].nginx_conf`` and ``nginx_directives``: the upload directives of runbook 001.

``ready`` also drops the ``up`` samples Prometheus took before the services it scrapes were
started: those are the sandbox booting, not downtime, and would sit in the 1-minute window of
the first check run (under a reference-system profile too, whose inventory keys are its
example's own: ``up`` adds nothing there).
"""

from __future__ import annotations

import time

import requests

from . import backend, monitoring, nginx
from .base import Component, Sandbox, SandboxError

CLOSED_PORT_NAME = "database-published"
WRITE_PATHS = ["/api/"]
EXPECT_RULES = ["BackendDown", "HighErrorRate"]
AVAILABILITY_WINDOW = "1m"
LOG_PATTERN = {"name": "fda-rate-limit", "pattern": "(?i)rate limit", "max": 10,
               "services": ["worker"]}
NGINX_DIRECTIVES = ["proxy_request_buffering off", "proxy_read_timeout"]


def closed_port(sb: Sandbox) -> int:
    """The loopback port declared closed (allocated free; the fault listens on it)."""
    return sb.port("posture_closed_db")


def delete_series(sb: Sandbox, match: str, *, end: float | None = None) -> None:
    """Delete series (their history up to ``end``) through Prometheus' admin API."""
    params: dict[str, str] = {"match[]": match}
    if end is not None:
        params["end"] = f"{end:.3f}"
    resp = requests.post(monitoring.prometheus_url(sb, "/api/v1/admin/tsdb/delete_series"),
                         params=params, timeout=10)
    if resp.status_code != 204:
        raise SandboxError(f"prometheus delete_series answered {resp.status_code}: "
                           f"{resp.text[:200]}")


class PostureComponent(Component):
    """Inventory keys of the posture checks (closed ports, write paths, rules, patterns)."""

    name = "posture"

    def up(self, sb: Sandbox) -> None:
        if sb.state.get("profile"):
            return  # a reference-system profile writes its example's keys itself
        inv = sb.state.setdefault("inventory", {})
        sb.inventory_update("security", {
            "closed_ports": [{"name": CLOSED_PORT_NAME, "host": "127.0.0.1",
                              "port": closed_port(sb)}],
            "write_paths": list(WRITE_PATHS),
        })
        if "prometheus" in inv:
            inv["prometheus"].update({"expect_rules": list(EXPECT_RULES),
                                      "availability_window": AVAILABILITY_WINDOW})
        if "docker" in inv:
            inv["docker"]["log_patterns"] = [dict(LOG_PATTERN)]
        for host in inv.get("hosts", []):
            if host.get("target") == "local://" and sb.state.get("nginx"):
                host["nginx_conf"] = str(nginx.conf_path(sb))
                host["nginx_directives"] = list(NGINX_DIRECTIVES)
        sb.save()

    def ready(self, sb: Sandbox) -> None:
        if "monitoring" not in sb.state:
            return
        monitoring.wait_targets(sb, timeout=20)
        delete_series(sb, "up", end=time.time() - 0.5)
        # Until every target's next scrape, ``up`` has no recent sample at all.
        want = len(monitoring.targets(sb))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            resp = requests.get(monitoring.prometheus_url(sb, "/api/v1/query"),
                                params={"query": "up == 1"}, timeout=5)
            if len(resp.json().get("data", {}).get("result", [])) >= want:
                break
            time.sleep(0.2)
        else:
            raise SandboxError("prometheus holds no fresh 'up' sample of every target 10s "
                               "after the boot history was dropped")
        _first_traffic(sb)


def _first_traffic(sb: Sandbox) -> None:
    """A few real requests, then wait until Prometheus has a request rate from them.

    A live service always has traffic; a sandbox that has just started has none, and its SLO
    checks (5xx ratio, server-side p95) would read 0/0 in the first run, e.g. ``make demo``
    seconds after ``up``. The answer's status does not matter (a profile may serve its health
    route elsewhere): every request is counted.
    """
    if "backend" not in sb.state.get("ports", {}):
        return
    with requests.Session() as http:
        for _ in range(20):
            http.get(backend.url(sb, "/health"), timeout=5)
    query = 'sum(rate(http_requests_total{job="backend"}[5m])) > 0'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        resp = requests.get(monitoring.prometheus_url(sb, "/api/v1/query"),
                            params={"query": query}, timeout=5)
        if resp.json().get("data", {}).get("result"):
            return
        time.sleep(0.3)
    raise SandboxError("prometheus shows no request rate for the backend 15s after 20 requests")
