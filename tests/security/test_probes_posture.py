"""Unit tests of the posture probes: closed ports, write requests in access logs, container-log
patterns, nginx directives, availability arithmetic, and the inventory keys behind them.

Real sockets and files on loopback and tmp_path; no mocks. Fast (well under a second).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from pathlib import Path

import pytest

from opsverify.errors import ProbeError
from opsverify.inventory import Inventory
from opsverify.probes import availability, container_logs, log_signals, nginx_conf, ports
from opsverify.probes import hosts as hosts_probe

NOW = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------ ports
def test_closed_port_is_refused() -> None:
    obs = ports.probe_port("127.0.0.1", _free_port(), target="t", timeout_s=1)
    assert not obs.open and obs.outcome == "refused"


def test_open_port_names_listener_and_banner() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def greet() -> None:
        conn, _ = srv.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()

    t = threading.Thread(target=greet, daemon=True)
    t.start()
    try:
        obs = ports.probe_port("127.0.0.1", port, target="t", timeout_s=1)
    finally:
        t.join(2)
        srv.close()
    assert obs.open and obs.outcome == "accepted"
    assert "SSH-2.0-OpenSSH_9.2" in obs.what_listens()
    assert f"pid {os.getpid()}" in obs.listener  # this very process listens


def test_unresolvable_host_is_broken_not_closed() -> None:
    with pytest.raises(ProbeError, match="cannot resolve"):
        ports.probe_port("no-such-host.invalid", 5432, target="t", timeout_s=1)


def test_closed_ports_accept_host_port_strings() -> None:
    inv = Inventory.model_validate({"security": {"closed_ports": [
        "127.0.0.1:5432", "[::1]:6379", {"port": 9000, "name": "minio"}]}})
    got = [(p.host, p.port, p.label) for p in inv.security.closed_ports]  # type: ignore[union-attr]
    assert got == [("127.0.0.1", 5432, "127.0.0.1:5432"), ("::1", 6379, "::1:6379"),
                   ("127.0.0.1", 9000, "minio")]
    with pytest.raises(ValueError, match="host:port"):
        Inventory.model_validate({"security": {"closed_ports": ["5432"]}})


# ------------------------------------------------------------------------- writes in logs
def _line(method: str, path: str, when: str = "02/Jan/2026:11:00:00 +0000",
          ip: str = "198.51.100.7") -> str:
    return f'{ip} - - [{when}] "{method} {path} HTTP/1.1" 404 0 "-" "scanner"'


def test_writes_outside_api_are_counted() -> None:
    lines = [
        _line("POST", "/api/studies"),                      # allowed
        _line("GET", "/wp-login.php"),                      # not a write
        _line("POST", "/wp-login.php"),
        _line("PUT", "/uploads/shell.php?x=1"),
        _line("DELETE", "/api/../index.html"),               # traversal out of the API
        _line("POST", "/old", when="01/Jan/2026:10:00:00 +0000"),  # outside 24 h
    ]
    obs = log_signals.count_unexpected_writes(lines, ["/api/"], now=NOW)
    assert obs.count == 3 and obs.writes_total == 4
    assert obs.by_method == {"POST": 1, "PUT": 1, "DELETE": 1}
    assert ("/uploads/shell.php", 1) in obs.top_paths
    assert obs.top_sources == [("198.51.100.7", 3)]


# --------------------------------------------------------------------- container patterns
def test_pattern_count_groups_messages_without_docker_timestamps() -> None:
    lines = [f"2026-01-02T10:00:0{i}.123456789Z 2026-01-02T10:00:0{i}Z WARNING FDA API rate "
             f"limit reached (429), retry {i}" for i in range(3)]
    lines.append("2026-01-02T10:00:09.1Z INFO ok")
    got = container_logs.count_pattern(lines, "(?i)RATE LIMIT", container="w")
    assert got.matches == 3
    assert got.top == [("# WARNING FDA API rate limit reached (#), retry #", 3)]


def test_invalid_log_pattern_is_an_inventory_error() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Inventory.model_validate({"docker": {"log_patterns": [{"name": "x", "pattern": "("}]}})


# -------------------------------------------------------------------------- nginx directives
CONF = """
http {
    add_header Content-Security-Policy "default-src 'self'; object-src 'none'" always;  # ;{
    include /etc/nginx/mime.types;
    location /api/upload {
        client_max_body_size 10G;
        proxy_request_buffering   off;
        proxy_read_timeout 600s;
    }
}
"""


def test_statements_honour_quotes_and_comments() -> None:
    stmts = nginx_conf.statements(CONF)
    assert stmts[0].startswith('add_header Content-Security-Policy "default-src \'self\'; obj')
    assert "proxy_request_buffering off" in stmts and "proxy_read_timeout 600s" in stmts


def test_directives_missing_and_found(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF.replace("proxy_request_buffering   off", "proxy_request_buffering on"))
    host = hosts_probe.get_host("local://")
    got = nginx_conf.check_directives(
        host, str(conf), ["proxy_request_buffering off", "proxy_read_timeout"], target="t")
    assert got.missing == ["proxy_request_buffering off"]
    assert got.found["proxy_request_buffering"] == ["on"]
    assert got.includes == ["/etc/nginx/mime.types"]
    with pytest.raises(ProbeError):
        nginx_conf.check_directives(host, str(tmp_path / "absent.conf"), ["x"], target="t")


# ------------------------------------------------------------------------------ availability
def test_availability_window_and_query() -> None:
    assert availability.duration_s("30d") == 30 * 86400
    assert availability.duration_s("1h30m") == 5400
    q, origin = availability.query_for("7d", {"availability": 'avg_over_time(up{job="a"}'
                                                              '[$window])'})
    assert q == 'avg_over_time(up{job="a"}[7d])' and origin.startswith("inventory")
    a = availability.Availability("api", "h:1", 99.0, samples=30, scrape_interval_s=2,
                                  covered_s=60, window_s=30 * 86400)
    assert a.coverage_note == "over the 60s of data Prometheus holds (window 30.0d)"
    with pytest.raises(ValueError, match="Prometheus duration"):
        Inventory.model_validate({"prometheus": {"url": "http://127.0.0.1:9090",
                                                 "availability_window": "30 days"}})
