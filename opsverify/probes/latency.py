"""Active latency probe: a small, bounded burst of real requests and its percentiles.

Why bounded: a verification run must never become a load test of production. The burst sends
at most ``requests`` requests (default 50), at most ``concurrency`` at a time (default 5), and
stops dispatching at ``time_cap_s``; every request's own timeout is clipped to the time left,
so even a target that answers in minutes costs at most the cap (plus one connect timeout).

Why warm-up: the first request on each of the ``concurrency`` connections pays the TCP and TLS
handshakes. Users on keep-alive connections do not, and neither does ``wrk``; so those first
requests count toward the budget and the error rate, but not toward the percentiles (unless
too few requests are left to measure anything else).

>>> percentile([10.0, 20.0, 30.0, 40.0], 50)
25.0
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlsplit

import requests

from opsverify.errors import ProbeError
from opsverify.probes import http as http_probe

#: bodies are read completely (time to last byte) but never beyond this size
MAX_BODY = 256 * 1024
#: below this many measured requests the warm-up requests are kept in the percentiles
MIN_MEASURED = 5


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass
class LatencyObservation:
    """What one burst saw. Latencies are client-side, request start to last body byte."""

    target: str
    url: str
    method: str
    planned: int
    concurrency: int
    time_cap_s: float
    sent: int = 0
    completed: int = 0
    errors: int = 0
    warmup: int = 0
    time_capped: bool = False
    duration_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    warmup_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def error_rate(self) -> float:
        """Errors (transport failures and 5xx answers) per request sent."""
        return self.errors / self.sent if self.sent else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        """Evidence: the percentiles, counts, and why the burst stopped."""
        def r(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 2)

        return {
            "url": self.url,
            "method": self.method,
            "requests_planned": self.planned,
            "requests_sent": self.sent,
            "responses": self.completed,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "error_kinds": self.error_kinds,
            "statuses": self.statuses,
            "concurrency": self.concurrency,
            "warmup_requests_excluded": len(self.warmup_ms) if self.warmup else 0,
            "measured_requests": len(self.latencies_ms),
            "p50_ms": r(self.p(50)),
            "p95_ms": r(self.p(95)),
            "p99_ms": r(self.p(99)),
            "min_ms": r(min(self.latencies_ms)) if self.latencies_ms else None,
            "max_ms": r(max(self.latencies_ms)) if self.latencies_ms else None,
            "mean_ms": r(sum(self.latencies_ms) / len(self.latencies_ms))
            if self.latencies_ms else None,
            "duration_s": round(self.duration_s, 3),
            "time_cap_s": self.time_cap_s,
            "stopped_by_time_cap": self.time_capped,
        }


def new_session(url: str, concurrency: int, resolve: str | None = None) -> requests.Session:
    """A session whose pool keeps one connection per concurrent request (keep-alive).

    With ``resolve``, the pinned adapter that :func:`opsverify.probes.http.fetch` would mount
    with a default pool of 10 is mounted here first, sized to ``concurrency``.
    """
    session = http_probe.new_session(pool_maxsize=max(concurrency, 1))
    if resolve:
        parts = urlsplit(url)
        addr = f"[{resolve}]" if ":" in resolve else resolve
        netloc = f"{addr}:{parts.port}" if parts.port else addr
        session.mount(f"{parts.scheme}://{netloc}/", http_probe._PinnedAdapter(
            parts.hostname or "", pool_connections=1, pool_maxsize=max(concurrency, 1),
            max_retries=0))
    return session


def burst(
    session: requests.Session,
    url: str,
    *,
    target: str,
    requests_max: int = 50,
    concurrency: int = 5,
    time_cap_s: float = 30.0,
    timeout_s: float = 10.0,
    method: str = "GET",
    ca_file: str | None = None,
    resolve: str | None = None,
) -> LatencyObservation:
    """Send at most ``requests_max`` requests, ``concurrency`` in flight, within ``time_cap_s``.

    Errors are transport failures (refused, timed out, TLS) and 5xx answers; 4xx answers are
    the endpoint's business and count as responses. Raises ProbeError only when not a single
    request got an answer, because then there is nothing to measure.
    """
    if method not in ("GET", "HEAD"):
        raise ValueError("the latency probe only sends GET or HEAD: it must not change the target")
    obs = LatencyObservation(target=target, url=url, method=method, planned=requests_max,
                             concurrency=concurrency, time_cap_s=time_cap_s)
    lock = threading.Lock()
    tickets = iter(range(requests_max))
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    start = time.monotonic()
    deadline = start + time_cap_s

    def claim() -> tuple[int, float] | None:
        with lock:
            left = deadline - time.monotonic()
            if left <= 0.05:
                obs.time_capped = obs.sent < requests_max
                return None
            ticket = next(tickets, None)
            if ticket is None:
                return None
            obs.sent += 1
            return ticket, left

    def worker() -> None:
        while (claimed := claim()) is not None:
            ticket, left = claimed
            t0 = time.perf_counter()
            try:
                resp = http_probe.fetch(session, url, target=target, method=method,
                                        timeout_s=min(timeout_s, left), ca_file=ca_file,
                                        resolve=resolve, max_body=MAX_BODY)
            except ProbeError as exc:
                with lock:
                    obs.errors += 1
                    kinds[_kind(exc.problem)] += 1
                continue
            elapsed = (time.perf_counter() - t0) * 1000.0
            with lock:
                obs.completed += 1
                statuses[str(resp.status)] += 1
                if resp.status >= 500:
                    obs.errors += 1
                    kinds[f"HTTP {resp.status}"] += 1
                (obs.warmup_ms if ticket < concurrency else obs.latencies_ms).append(elapsed)

    workers = max(1, min(concurrency, requests_max))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="latency") as pool:
        for f in [pool.submit(worker) for _ in range(workers)]:
            f.result()
    obs.duration_s = time.monotonic() - start
    obs.statuses = dict(sorted(statuses.items()))
    obs.error_kinds = dict(kinds.most_common(5))
    if len(obs.latencies_ms) < MIN_MEASURED:
        obs.latencies_ms = obs.warmup_ms + obs.latencies_ms
    else:
        obs.warmup = len(obs.warmup_ms)
    if obs.completed == 0:
        why = next(iter(obs.error_kinds), "no request was sent")
        raise ProbeError(target, f"none of {obs.sent} requests to {url} got an answer "
                                 f"within {time_cap_s:g}s ({why})")
    return obs


def _kind(problem: str) -> str:
    """Group transport errors by their kind, without the URL (which repeats in every one)."""
    for key in ("timed out", "no response within", "did not finish", "TLS", "refused",
                "cannot connect"):
        if key in problem:
            return key
    return problem[:80]


def histogram_svg(obs: LatencyObservation, threshold_ms: float, bins: int = 24) -> str:
    """A self-contained SVG latency histogram with p50/p95/p99 and the threshold marked."""
    w, h, left, right, top, bottom = 640, 260, 50, 20, 30, 40
    data = obs.latencies_ms
    hi = max([*data, threshold_ms]) * 1.05 if data else threshold_ms * 1.2
    width = hi / bins
    counts = [0] * bins
    for v in data:
        counts[min(int(v / width), bins - 1)] += 1
    peak = max(counts) or 1
    plot_w, plot_h = w - left - right, h - top - bottom

    def x(v: float) -> float:
        return left + plot_w * v / hi

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="16" font-size="13">{escape(obs.target)}: latency of '
        f'{len(data)} requests (ms)</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="black"/>',
    ]
    bar_w = plot_w / bins
    for i, c in enumerate(counts):
        if c:
            bh = plot_h * c / peak
            parts.append(f'<rect x="{left + i * bar_w:.1f}" y="{top + plot_h - bh:.1f}" '
                         f'width="{max(bar_w - 1, 1):.1f}" height="{bh:.1f}" fill="#4a7bd0">'
                         f'<title>{i * width:.1f}-{(i + 1) * width:.1f} ms: {c}</title></rect>')
    for k in range(5):
        v = hi * k / 4
        parts.append(f'<text x="{x(v):.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                     f'{v:.0f}</text>')
    parts.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{peak}</text>')
    marks = [("p50", obs.p(50), "#2a9d3a", ""), ("p95", obs.p(95), "#e08a00", ""),
             ("p99", obs.p(99), "#8a2be2", ""),
             ("limit", threshold_ms, "#d0202a", ' stroke-dasharray="5,3"')]
    for n, (label, v, color, dash) in enumerate(marks):
        if math.isnan(v):
            continue
        parts.append(f'<line x1="{x(v):.1f}" y1="{top}" x2="{x(v):.1f}" y2="{top + plot_h}" '
                     f'stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{x(v) + 3:.1f}" y="{top + 10 + 12 * n}" fill="{color}">'
                     f'{label} {v:.0f}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{h - 6}" text-anchor="middle">'
                 f'latency (ms); errors {obs.errors}/{obs.sent}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
