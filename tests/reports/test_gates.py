"""Deploy gates (baseline, latency regression, expected version), metrics and the terminal
summary, end to end in throwaway projects; HTTP peers are tiny servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsverify import metrics
from tests.reports.conftest import allure_results

NO_DEAD = ["--deselect", "checks/health/test_endpoints.py::test_endpoint_answers[dead]"]


class _Peer(BaseHTTPRequestHandler):
    version = "1.2.3"
    received: list[tuple[str, str, bytes]] = []

    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "version": self.version}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(("PUT", self.path, data))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[str]:
    """An HTTP server on loopback: a version endpoint and a Pushgateway stand-in."""
    _Peer.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Peer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_baseline_catches_newly_failing_checks_and_latency_regressions(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = project.path / "baseline.json"
    monkeypatch.setenv("DEMO_BAD", "none")
    pre = project.runpytest_subprocess("--env", "demo", "-m", "predeploy", *NO_DEAD,
                                       "--save-baseline", str(base))
    assert pre.ret == 0, pre.stdout.str()
    saved = json.loads(base.read_text())
    assert saved["environment"] == "demo-env"
    assert saved["measurements"]["PRF-901[good]"] == {"latency_p95_ms": 100.0}
    # same state after the deploy: the gate passes
    same = project.runpytest_subprocess("--env", "demo", "-m", "postdeploy", *NO_DEAD,
                                        "--baseline", str(base))
    assert same.ret == 0, same.stdout.str()
    # the deploy broke 'bad' and made everything 50 % slower (+50 ms)
    monkeypatch.setenv("DEMO_BAD", "bad")
    monkeypatch.setenv("DEMO_LATENCY_MS", "150")
    post = project.runpytest_subprocess("--env", "demo", "-m", "postdeploy", *NO_DEAD,
                                        "--baseline", str(base), "--gate", "blocker")
    assert post.ret == 1
    out = post.stdout.str()
    assert "baseline-newly-failing[HLT-901[bad]]" in out
    assert "HLT-901[bad] passed before the deploy" in out
    assert "PRF-901[good]: latency_p95_ms 150 after the deploy vs 100 before (+50 %, " \
           "allowed +20 %)" in out
    results = allure_results(project)
    gate = results["baseline-latency[PRF-901[good]:latency_p95_ms]"]
    assert gate["status"] == "failed"
    assert {"name": "epic", "value": "deploy gate"} in gate["labels"]
    junit = (project.path / "reports" / "junit.xml").read_text()
    assert "baseline-newly-failing" in junit


def test_small_latency_changes_are_not_regressions(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = project.path / "baseline.json"
    monkeypatch.setenv("DEMO_LATENCY_MS", "2")
    project.runpytest_subprocess("--env", "demo", "-m", "predeploy", *NO_DEAD,
                                 "--save-baseline", str(base), "--gate", "blocker")
    monkeypatch.setenv("DEMO_LATENCY_MS", "4")  # +100 %, but only 2 ms
    post = project.runpytest_subprocess("--env", "demo", "-m", "postdeploy", *NO_DEAD,
                                        "--baseline", str(base), "--gate", "blocker")
    assert post.ret == 0, post.stdout.str()


def test_baseline_of_another_environment_is_a_usage_error(project: pytest.Pytester) -> None:
    base = project.path / "baseline.json"
    base.write_text(json.dumps({"format": "opsverify-baseline/1", "environment": "prod",
                                "results": [], "measurements": {}}))
    result = project.runpytest_subprocess("--env", "demo", "--baseline", str(base))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "baseline was taken on 'prod', this run verifies 'demo-env'" in result.stderr.str()


def test_expect_version(project: pytest.Pytester, peer: str) -> None:
    (project.path / "environments" / "demo.yml").write_text(
        f"environment: demo-env\nhttp:\n  - {{name: api, url: '{peer}/version', version: true}}\n")
    ok = project.runpytest_subprocess("--env", "demo", "-m", "postdeploy",
                                      "--expect-version", "1.2.3")
    assert ok.ret == 0, ok.stdout.str()
    bad = project.runpytest_subprocess("--env", "demo", "-m", "postdeploy",
                                       "--expect-version", "1.3.0")
    assert bad.ret == 1
    assert "api: " in bad.stdout.str()
    assert "reports version '1.2.3', the deploy expected '1.3.0'" in bad.stdout.str()


def test_expect_version_without_a_flagged_item_is_a_finding(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--env", "demo", "-m", "smoke",
                                          "--expect-version", "1.0")
    assert result.ret == 1
    assert "no http item is flagged 'version: true'" in result.stdout.str()


def test_metrics_textfile_and_pushgateway(project: pytest.Pytester, peer: str) -> None:
    prom = project.path / "textfile" / "opsverify.prom"
    result = project.runpytest_subprocess("--env", "demo", "-m", "daily", "--metrics-file",
                                          str(prom), "--pushgateway", peer)
    assert result.ret == 1
    text = prom.read_text()
    assert ('opsverify_check_status{environment="demo-env",check_id="HLT-901",target="good",'
            'severity="critical"} 1') in text
    assert ('opsverify_check_status{environment="demo-env",check_id="HLT-901",target="bad",'
            'severity="critical"} 0') in text
    assert 'outcome="broken"} 1' in text
    assert "opsverify_check_duration_seconds{" in text
    assert 'opsverify_run_timestamp_seconds{environment="demo-env"}' in text
    assert 'opsverify_measurement{environment="demo-env",check_id="PRF-901",target="good",' \
           'name="latency_p95_ms"} 100' in text
    assert not list(prom.parent.glob(".*tmp"))  # atomic: no temp file left behind
    assert _Peer.received and _Peer.received[0][1] == \
        "/metrics/job/opsverify/environment/demo-env"
    assert _Peer.received[0][2].decode() == text
    assert "metrics pushed to" in result.stdout.str()


def test_metrics_parse_with_the_prometheus_client_parser() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = metrics.render('we"ird\nenv', [
        {"check_id": "TLS-001", "target": "a", "severity": "minor", "outcome": "waived",
         "duration": 1.5}], {"TLS-001[a]": {"days_left": 12}})
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"opsverify_check_status", "opsverify_check_duration_seconds",
            "opsverify_run_timestamp_seconds", "opsverify_measurement"} <= names


def test_metrics_write_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "m.prom"
    target.write_text("old\n")
    metrics.write_textfile(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]


def test_terminal_summary_per_area_and_severity(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--env", "demo", "-m", "daily")
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*opsverify summary*",
        "area*severity*failed*broken*waived",
        "health*critical*1*1*0",
        "allure results: *reports/allure-results",
        "html report: make report*",
    ])
    assert "1 failed" in out and "passed" in out  # pytest's own summary line stays
