"""The PromQL probe against a real Prometheus on loopback (no scrape targets needed)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from opsverify.errors import ProbeError
from opsverify.probes import slo

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    d = tmp_path_factory.mktemp("prom")
    (d / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={d / 'prometheus.yml'}",
                             f"--storage.tsdb.path={d / 'data'}", "--log.level=error",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_vector_values_and_query_text(prometheus: str) -> None:
    with requests.Session() as s:
        r = slo.instant(s, prometheus, "vector(0.25)", target="prometheus", timeout_s=5)
    assert [x.value for x in r.samples] == [0.25]
    assert r.summary()["promql"] == "vector(0.25)"


def test_no_data_is_empty_not_zero(prometheus: str) -> None:
    with requests.Session() as s:
        r = slo.instant(s, prometheus, slo.DEFAULT_QUERIES["request_rate"],
                        target="prometheus", timeout_s=5)
    assert r.empty


def test_nan_is_reported_as_undefined(prometheus: str) -> None:
    with requests.Session() as s:
        r = slo.instant(s, prometheus, "vector(0) / vector(0)", target="prometheus",
                        timeout_s=5)
    assert len(r.undefined) == 1


def test_rejected_query_is_a_probe_error(prometheus: str) -> None:
    with requests.Session() as s, pytest.raises(ProbeError, match="rejected the query"):
        slo.instant(s, prometheus, "sum(rate(", target="prometheus", timeout_s=5)


def test_inventory_override_wins() -> None:
    q, origin = slo.query_for("latency_p95", {"latency_p95": "my_p95"})
    assert (q, origin) == ("my_p95", "inventory prometheus.queries.latency_p95")
    assert slo.query_for("latency_p95", {})[1] == "default"
