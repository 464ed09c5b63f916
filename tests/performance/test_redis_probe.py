"""The Redis probes against a throwaway redis-server on loopback (started in ~0.1 s)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from opsverify.probes import redis_stats


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server is not installed")
    d: Path = tmp_path_factory.mktemp("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(d), "--maxmemory", "32mb"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=5, decode_responses=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield client
    finally:
        proc.terminate()
        proc.wait(10)


def test_info_fields_and_memory_share(server: redis.Redis) -> None:
    obs = redis_stats.info(server, target="t")
    assert obs.maxmemory == 32 * 2**20 and obs.memory_pct is not None
    assert obs.policy == "noeviction" and obs.ping_ms > 0
    assert obs.summary()["rdb_last_bgsave_status"] == "ok"


def test_slowlog_keeps_command_names_not_arguments(server: redis.Redis) -> None:
    server.config_set("slowlog-log-slower-than", 0)
    try:
        server.set("customer:42:email", "secret-value@example.test")
    finally:
        server.config_set("slowlog-log-slower-than", 10000)
    log = redis_stats.slowlog(server, target="t")
    assert log.length >= 1
    sets = [e for e in log.entries if e.command == "SET"]
    assert sets and sets[0].args == 2
    assert "secret-value" not in repr(log) and "customer:42" not in repr(log)
    assert len(log.since(time.time() - 60)) >= 1
