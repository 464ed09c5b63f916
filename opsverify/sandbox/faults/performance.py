"""Performance faults: a slow route, a burst of 5xx answers, a broken metrics scrape.

The backend's behaviour changes through its control file (``backend.set_control``). For the
server-side SLOs, Prometheus must also *see* the fault: each fault sends a bounded amount of
real traffic to the backend on 127.0.0.1 and waits until Prometheus has scraped it.

SLO windows are 5 minutes long, so one fault would otherwise still show in the next check run
minutes after its revert. Both inject and revert therefore delete the request series from the
sandbox's Prometheus (admin API, enabled in the sandbox only) and wait for fresh scrapes: every
fault starts from a clean window and leaves one behind.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from opsverify.sandbox import backend, monitoring
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

SERIES = '{__name__=~"http_requests_total|http_request_duration_seconds.*"}'
SLOW_PATH = "/api/studies"
SLOW_MS = 700
ERROR_PATH = "/api/version"
ERROR_RATE = 0.5
UNSCRAPEABLE = "127.0.0.1:9"  # discard port: nothing listens on loopback


def _last_scrape(sb: Sandbox) -> float:
    resp = requests.get(monitoring.prometheus_url(sb, "/api/v1/query"),
                        params={"query": 'max(timestamp(up{job="backend"}))'}, timeout=5)
    result = resp.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def wait_scrapes(sb: Sandbox, count: int = 1, timeout: float = 15.0) -> None:
    """Return once Prometheus has scraped the backend job ``count`` more times."""
    deadline = time.monotonic() + timeout
    last, seen = _last_scrape(sb), 0
    while seen < count:
        if time.monotonic() > deadline:
            raise SandboxError(f"prometheus did not scrape the backend {count} times in "
                               f"{timeout:.0f}s")
        time.sleep(0.1)
        now = _last_scrape(sb)
        if now > last:
            last, seen = now, seen + 1


def forget_request_series(sb: Sandbox) -> None:
    """Delete the backend's request series from Prometheus (all of their history)."""
    resp = requests.post(monitoring.prometheus_url(sb, "/api/v1/admin/tsdb/delete_series"),
                         params={"match[]": SERIES}, timeout=10)
    if resp.status_code != 204:
        raise SandboxError(f"prometheus delete_series answered {resp.status_code}: "
                           f"{resp.text[:200]} (is --web.enable-admin-api set?)")


def traffic(url: str, count: int, concurrency: int) -> dict[int, int]:
    """Send ``count`` GETs to a loopback URL, ``concurrency`` at a time; status counts."""
    if not url.startswith("http://127.0.0.1:"):
        raise SandboxError(f"refusing to send traffic outside loopback: {url}")
    statuses: dict[int, int] = {}
    with requests.Session() as session:
        session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency)
        session.mount("http://", adapter)

        def one(_: int) -> int:
            try:
                return session.get(url, timeout=10).status_code
            except requests.RequestException:
                return 0

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for status in pool.map(one, range(count)):
                statuses[status] = statuses.get(status, 0) + 1
    return statuses


def _fresh_window(sb: Sandbox, url: str) -> None:
    """An empty SLO window with one scrape in it, so the traffic that follows is counted.

    A few requests go first: a series the app creates during the burst (its first 500) would
    otherwise be scraped for the first time already holding the whole burst, and rate() only
    counts increases between scrapes.
    """
    forget_request_series(sb)
    traffic(url, 8, 4)
    wait_scrapes(sb, 1)


def _settle(sb: Sandbox) -> None:
    """Wait until Prometheus holds at least two scrapes after the last change (rate needs 2)."""
    wait_scrapes(sb, 2)


# --- slow_endpoint --------------------------------------------------------------------------
def _slow_inject(sb: Sandbox) -> None:
    backend.set_control(sb, slow_ms=SLOW_MS, slow_paths=[SLOW_PATH])
    _fresh_window(sb, backend.url(sb, SLOW_PATH))
    traffic(backend.url(sb, SLOW_PATH), 24, 6)
    _settle(sb)


def _slow_revert(sb: Sandbox) -> None:
    backend.set_control(sb, slow_ms=None, slow_paths=None)
    forget_request_series(sb)
    _settle(sb)


# --- error_burst_5xx ------------------------------------------------------------------------
def _errors_inject(sb: Sandbox) -> None:
    backend.set_control(sb, error_rate=ERROR_RATE, error_paths=[ERROR_PATH])
    _fresh_window(sb, backend.url(sb, ERROR_PATH))
    traffic(backend.url(sb, ERROR_PATH), 80, 8)
    _settle(sb)


def _errors_revert(sb: Sandbox) -> None:
    backend.set_control(sb, error_rate=None, error_paths=None)
    forget_request_series(sb)
    _settle(sb)


# --- backend_scrape_broken ------------------------------------------------------------------
def _scrape_inject(sb: Sandbox) -> None:
    monitoring.add_scrape_target(sb, "backend", UNSCRAPEABLE, wait=False)
    # Discovery swaps the target a moment after the reload: until then the old one scrapes on.
    deadline = time.monotonic() + 15
    while {t["instance"] for t in monitoring.targets(sb) if t["job"] == "backend"} != {
            UNSCRAPEABLE}:
        if time.monotonic() > deadline:
            raise SandboxError(f"prometheus still scrapes the real backend 15s after "
                               f"pointing the job at {UNSCRAPEABLE}")
        time.sleep(0.1)
    forget_request_series(sb)
    wait_scrapes(sb, 1)


def _scrape_revert(sb: Sandbox) -> None:
    if "backend" in sb.state.get("monitoring", {}).get("extra_targets", {}):
        monitoring.remove_scrape_target(sb, "backend")
    monitoring.wait_targets(sb, timeout=15)
    _settle(sb)


FAULTS = [
    Fault("slow_endpoint", "performance",
          f"{SLOW_PATH} sleeps {SLOW_MS} ms per request (24 requests sent so Prometheus sees it)",
          _slow_inject, _slow_revert),
    Fault("error_burst_5xx", "performance",
          f"{ERROR_PATH} answers 500 to {ERROR_RATE:.0%} of requests (80 requests sent)",
          _errors_inject, _errors_revert),
    Fault("backend_scrape_broken", "performance",
          f"Prometheus scrapes the backend job at {UNSCRAPEABLE}: its request metrics vanish",
          _scrape_inject, _scrape_revert),
]
