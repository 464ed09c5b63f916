"""The Redis probes against a throwaway redis-server on loopback (started in ~0.1 s)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from opsverify.history import History, Record
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


def test_counter_window_previous_run_reset_and_restart(server: redis.Redis,
                                                       tmp_path: Path) -> None:
    """Growth since the previous run; a RESETSTAT or a restart is never a negative change."""
    counters = ("keyspace_hits", "keyspace_misses")
    hist = History(tmp_path)

    def run() -> redis_stats.CounterWindow:
        cur = redis_stats.snapshot(redis_stats.info(server, target="t"), counters)
        return redis_stats.window(hist.exchange("CCH-007/t", cur), cur, counters)

    assert run().since == "server start"
    for i in range(5):
        server.get(f"missing:{i}")
    win = run()
    assert win.since == "previous run" and win.deltas == {"keyspace_hits": 0,
                                                          "keyspace_misses": 5}
    assert "since the previous run" in win.describe()
    server.config_resetstat()
    win = run()
    assert win.since == "stats reset" and win.deltas["keyspace_misses"] == 0
    # A restart: another run_id (the counters' level alone may not drop).
    cur = redis_stats.snapshot(redis_stats.info(server, target="t"), counters)
    other = Record(dt.datetime.now(dt.UTC), {**cur, "run_id48": cur["run_id48"] + 1})
    assert redis_stats.window(other, cur, counters).since == "server restart"


def test_ping_sample_and_config_get(server: redis.Redis) -> None:
    sample = redis_stats.ping_sample(server, target="t", count=3, spacing_s=0.01)
    assert len(sample.rtts_ms) == 3 and 0 < sample.median_ms < 1000
    assert redis_stats.config_get(server, "save", target="t") == ""
    assert redis_stats.config_get(server, "maxmemory", target="t") == str(32 * 2**20)
    obs = redis_stats.info(server, target="t")
    assert abs(obs.server_time - time.time()) < 5  # the server's own clock (INFO)
