"""The latency probe against a real HTTP server on loopback: caps, pooling, errors, chart."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opsverify.errors import ProbeError
from opsverify.probes import latency


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as production servers do

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:  # type: ignore[attr-defined]
            srv.count += 1  # type: ignore[attr-defined]
            srv.peers.add(self.client_address)  # type: ignore[attr-defined]
        time.sleep(srv.delay_s)  # type: ignore[attr-defined]
        status = 500 if self.path == "/fail" else 404 if self.path == "/missing" else 200
        body = b"ok"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the probe gave up on us (time cap): fine
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.lock, srv.count, srv.peers, srv.delay_s = threading.Lock(), 0, set(), 0.0  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: ThreadingHTTPServer, path: str = "/") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def _burst(url: str, **kw: object) -> latency.LatencyObservation:
    conc = int(kw.pop("concurrency", 4))  # type: ignore[call-overload]
    with latency.new_session(url, conc) as s:
        return latency.burst(s, url, target="t", concurrency=conc, **kw)  # type: ignore[arg-type]


def test_percentile_interpolates_like_numpy() -> None:
    data = [float(v) for v in range(1, 101)]
    assert latency.percentile(data, 50) == pytest.approx(50.5)
    assert latency.percentile(data, 95) == pytest.approx(95.05)
    assert latency.percentile([7.0], 99) == 7.0


def test_sends_exactly_the_budget_over_pooled_connections(server: ThreadingHTTPServer) -> None:
    server.delay_s = 0.005  # type: ignore[attr-defined]
    obs = _burst(_url(server), requests_max=30, concurrency=4, time_cap_s=10)
    assert server.count == obs.sent == obs.completed == 30  # type: ignore[attr-defined]
    assert len(server.peers) <= 4  # type: ignore[attr-defined]  # keep-alive: one per worker
    assert obs.warmup == 4 and len(obs.latencies_ms) == 26
    assert obs.errors == 0 and obs.p(95) >= 5


def test_time_cap_bounds_a_slow_target(server: ThreadingHTTPServer) -> None:
    server.delay_s = 3.0  # type: ignore[attr-defined]
    t0 = time.monotonic()
    with pytest.raises(ProbeError, match="none of 2 requests"):
        _burst(_url(server), requests_max=50, concurrency=2, time_cap_s=0.5, timeout_s=10)
    assert time.monotonic() - t0 < 1.5
    assert server.count <= 2  # type: ignore[attr-defined]


def test_stops_dispatching_at_the_time_cap(server: ThreadingHTTPServer) -> None:
    server.delay_s = 0.2  # type: ignore[attr-defined]
    obs = _burst(_url(server), requests_max=50, concurrency=2, time_cap_s=0.7)
    assert obs.time_capped and obs.sent < 50 and obs.duration_s < 1.2
    assert server.count == obs.sent  # type: ignore[attr-defined]


def test_5xx_are_errors_4xx_are_answers(server: ThreadingHTTPServer) -> None:
    failing = _burst(_url(server, "/fail"), requests_max=10, time_cap_s=5)
    assert failing.errors == 10 and failing.error_kinds == {"HTTP 500": 10}
    missing = _burst(_url(server, "/missing"), requests_max=10, time_cap_s=5)
    assert missing.errors == 0 and missing.statuses == {"404": 10}


def test_refuses_methods_that_change_the_target(server: ThreadingHTTPServer) -> None:
    with pytest.raises(ValueError, match="GET or HEAD"):
        _burst(_url(server), requests_max=1, method="POST")


def test_histogram_is_valid_svg(server: ThreadingHTTPServer) -> None:
    obs = _burst(_url(server), requests_max=12, time_cap_s=5)
    svg = latency.histogram_svg(obs, 500)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "p95" in svg and "limit 500" in svg
