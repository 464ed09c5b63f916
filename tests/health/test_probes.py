"""Unit tests of the health/resources probes against real sockets, files and tools on loopback."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from opsverify.errors import ProbeError
from opsverify.probes import containers as cp
from opsverify.probes import endpoints, hosts, monitoring
from opsverify.probes import http as http_probe


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose listener accepts connections and never sends a byte."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        srv.close()


def one_shot_server(reply: bytes) -> tuple[int, threading.Thread]:
    """A server that reads one request head and answers ``reply``."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        conn.sendall(reply)
        time.sleep(0.2)
        conn.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], t


# --------------------------------------------------------------------------- endpoints
def test_json_subset_reports_each_difference() -> None:
    want = {"status": "healthy", "checks": {"db": "ok", "redis": "ok"}}
    got = {"status": "degraded", "checks": {"db": "ok"}, "version": "1.4"}
    assert endpoints.json_mismatches(want, got) == [
        '$.status is "degraded", expected "healthy"',
        '$.checks.redis is missing, expected "ok"',
    ]
    assert endpoints.json_mismatches(want, [1]) == ["$ is [1], expected an object"]
    assert endpoints.json_mismatches({"n": [1, 2]}, {"n": [1, 2], "x": 0}) == []


def test_metrics_parse_and_counter_names() -> None:
    text = ("# HELP http_requests_total Requests\n# TYPE http_requests_total counter\n"
            'http_requests_total{path="/"} 3\n# TYPE up gauge\nup 1\n')
    m = endpoints.parse_metrics(text)
    assert m.parse_error is None
    assert m.has("http_requests_total") and m.has("http_requests") and m.has("up")
    assert not m.has("up_total") and not m.has("http_request_duration_seconds")
    bad = endpoints.parse_metrics("<html>login required</html>\n")
    assert bad.parse_error


def test_fetch_black_holed_port_is_broken_within_timeout(black_hole: int) -> None:
    with http_probe.new_session() as s:
        t0 = time.monotonic()
        with pytest.raises(ProbeError) as err:
            http_probe.fetch(s, f"http://127.0.0.1:{black_hole}/health", target="dead",
                             timeout_s=1.0)
        assert time.monotonic() - t0 < 2.5
    assert "dead" in str(err.value)


def test_upload_probe_black_holed_port_is_broken_within_timeout(black_hole: int) -> None:
    t0 = time.monotonic()
    with pytest.raises(ProbeError, match="neither 100 Continue nor a status within 1s"):
        endpoints.probe_upload(f"http://127.0.0.1:{black_hole}/api/upload", 10 * 2**30,
                               target="dead", timeout_s=1.0)
    assert time.monotonic() - t0 < 2.5


@pytest.mark.parametrize(("reply", "status", "accepted"), [
    (b"HTTP/1.1 100 Continue\r\n\r\n", 100, True),
    (b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\n\r\n", 413, False),
    (b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", 401, True),
])
def test_upload_probe_reads_the_first_answer(reply: bytes, status: int, accepted: bool) -> None:
    port, t = one_shot_server(reply)
    obs = endpoints.probe_upload(f"http://127.0.0.1:{port}/up?x=1", 5 * 2**30, target="u",
                                 timeout_s=2)
    t.join(2)
    assert (obs.status, obs.accepted, obs.declared_bytes) == (status, accepted, 5 * 2**30)


def test_upload_probe_refused_port_is_broken() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProbeError, match="cannot connect"):
        endpoints.probe_upload(f"http://127.0.0.1:{port}/", 1, target="u", timeout_s=1)


# --------------------------------------------------------------------------- hosts
def test_parse_df_long_names_and_spaces() -> None:
    out = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
           "/dev/mapper/vg-root 1000 900 100 90% /mnt/my disk\n")
    assert hosts.parse_df(out) == (1000, 900, 100, "/mnt/my disk")
    with pytest.raises(ValueError):
        hosts.parse_df("garbage\n")


def test_mount_usage_local_root() -> None:
    host = testinfra.get_host("local://")
    u = hosts.mount_usage(host, "/", target="local")
    assert u.kib_total > 0 and 0 <= u.used_pct <= 100
    with pytest.raises(ProbeError, match="df"):
        hosts.mount_usage(host, "/nonexistent/opsverify", target="local")


def test_large_files_uses_apparent_size(tmp_path: Path) -> None:
    big = tmp_path / "app.log"
    with open(big, "wb") as f:
        f.write(b"x")
    os.truncate(big, 3 * 2**20)  # sparse: 3 MiB apparent, a few KiB on disk
    (tmp_path / "small.log").write_text("ok\n")
    host = testinfra.get_host("local://")
    scan = hosts.large_files(host, str(tmp_path), 2**20, target="local")
    assert scan.exists and [(f.path, f.size_bytes) for f in scan.large_files] == [
        (str(big), 3 * 2**20)]
    assert not hosts.large_files(host, str(tmp_path / "nope"), 1, target="local").exists


def test_path_kinds_in_one_command(tmp_path: Path) -> None:
    (tmp_path / "app env").write_text("A=1\n")  # a space and a quote must survive quoting
    (tmp_path / "it's a dir").mkdir()
    host = testinfra.get_host("local://")
    paths = [str(tmp_path / "app env"), str(tmp_path / "it's a dir"), str(tmp_path / "gone"),
             "/dev/null"]
    kinds = [k.kind for k in hosts.path_kinds(host, paths, target="local")]
    assert kinds == ["file", "directory", "missing", "other"]
    assert hosts.path_kinds(host, [], target="local") == []


def test_cgroup_memory_dir_maps_the_mounted_subtree() -> None:
    v1 = "4:memory:/docker/abc\n3:cpu:/docker/abc\n0::/\n"
    mi = ("30 1 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
          "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
    assert hosts.cgroup_memory_dir(v1, mi) == ("/sys/fs/cgroup/memory", 1)
    assert hosts.cgroup_memory_dir("0::/system.slice/app.service\n",
                                   "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n") == (
        "/sys/fs/cgroup/system.slice/app.service", 2)
    assert hosts.cgroup_memory_dir("4:memory:/x\n", "1 0 8:1 / / rw - ext4 /dev/vda rw\n") is None


def test_memory_usage_local_is_plausible() -> None:
    mem = hosts.memory_usage(testinfra.get_host("local://"), target="local")
    assert mem.source and 0 < mem.used_pct < 100 and 0 < mem.used_bytes < mem.limit_bytes


# --------------------------------------------------------------------------- containers, alerts
def test_ps_table_and_severity_rank() -> None:
    c = cp.ContainerObservation(name="p_worker_1", service="worker", status="exited",
                                exit_code=137, health=None, restart_count=2, oom_killed=True,
                                started_at="", finished_at="", image="img")
    table = cp.ps_table([c]).splitlines()
    assert table[0].split() == ["NAME", "SERVICE", "STATUS", "HEALTH", "RESTARTS", "EXIT", "OOM"]
    assert table[1].split() == ["p_worker_1", "worker", "exited", "-", "2", "137", "yes"]
    assert monitoring.severity_rank("CRITICAL") > monitoring.severity_rank("warning")
    assert monitoring.severity_rank("weird") == monitoring.severity_rank("warning")
