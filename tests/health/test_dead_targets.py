"""A dead or black-holed target is *broken* within timeout_s, and the run goes on.

The checks run in a child pytest exactly as an operator runs them, against an inventory whose
HTTP, PostgreSQL and Redis items point at a port that accepts connections and never answers,
at a closed port, and at two live HTTP servers (healthy and degraded) on loopback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.health.test_probes import black_hole  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 1


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = "degraded" if self.path.startswith("/degraded") else "healthy"
        body = json.dumps({"status": status}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def live_http() -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dead_targets_are_broken_in_time_and_the_run_continues(
        black_hole: int, live_http: int, tmp_path: Path) -> None:  # noqa: F811
    closed = _closed_port()
    inv = {
        "environment": "dead-targets",
        "thresholds": {"timeout_s": TIMEOUT_S},
        "http": [
            {"name": "black-holed", "url": f"http://127.0.0.1:{black_hole}/health"},
            {"name": "refused", "url": f"http://127.0.0.1:{closed}/health"},
            {"name": "healthy", "url": f"http://127.0.0.1:{live_http}/health",
             "expect_json": {"status": "healthy"}},
            {"name": "degraded", "url": f"http://127.0.0.1:{live_http}/degraded",
             "expect_json": {"status": "healthy"}},
        ],
        "postgres": [{"name": "pg-black-holed",
                      "dsn": f"postgresql://u:p@127.0.0.1:{black_hole}/db?sslmode=disable"}],
        "redis": [{"name": "redis-black-holed", "url": f"redis://:p@127.0.0.1:{black_hole}/0"}],
    }
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(inv))
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "--no-header",
         "--no-reports", "--inventory", str(path), "--results-json", str(out),
         "checks/health/test_endpoints.py", "checks/health/test_dependencies.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    results = {r["target"]: r for r in json.loads(out.read_text())
               if r["target"] and r["outcome"] != "skipped"}
    outcomes = {t: r["outcome"] for t, r in results.items()}
    assert outcomes == {
        "black-holed": "broken", "refused": "broken", "healthy": "passed", "degraded": "failed",
        "pg-black-holed": "broken", "redis-black-holed": "broken",
    }, outcomes
    # libpq treats a connect_timeout below 2 s as 2 s: that is PostgreSQL's floor, not ours
    budget = {"black-holed": TIMEOUT_S, "pg-black-holed": 2, "redis-black-holed": TIMEOUT_S}
    for name, limit in budget.items():
        assert results[name]["duration"] < limit + 1.5, (name, results[name]["duration"])
    assert '$.status is "degraded"' in results["degraded"]["message"]
