"""The PostgreSQL probes behind DB-008..DB-010, against the session sandbox (primary + standby).

What the fault matrix cannot show cheaply: that the wraparound probe names each kind of horizon
holder (a forgotten prepared transaction, a session holding a snapshot), that the replication
probe sees the real standby, and the small rules (stale replay_lag, inventory ``replicas``).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from opsverify.inventory import Postgres
from opsverify.probes import pg_stats
from opsverify.probes import postgres as pg_probe
from opsverify.sandbox import Sandbox, postgres


@pytest.fixture
def monitor(sandbox: Sandbox) -> Any:
    conn = pg_probe.connect(postgres.dsn(sandbox, "monitor"), target="main", timeout_s=5)
    yield conn
    conn.close()


def test_xid_ages_name_prepared_transactions_and_snapshots(sandbox: Sandbox,
                                                           monitor: Any) -> None:
    gid = "opsverify-test-forgotten"
    with psycopg.connect(postgres.superuser_dsn(sandbox), autocommit=True) as prep, \
            psycopg.connect(postgres.superuser_dsn(sandbox), autocommit=True) as snap:
        prep.execute("BEGIN")
        prep.execute("SELECT pg_current_xact_id()")  # an XID: what pins the horizon
        prep.execute(f"PREPARE TRANSACTION '{gid}'")
        snap.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        snap.execute("SELECT count(*) FROM users")  # the snapshot's xmin stays while open
        snap_pid = snap.info.backend_pid
        try:
            obs = pg_stats.xid_ages(monitor, target="main")
        finally:
            prep.execute(f"ROLLBACK PREPARED '{gid}'")
            snap.execute("ROLLBACK")
    assert [h for h in obs.holders if h.kind == "prepared transaction"
            and h.name == repr(gid)]
    sessions = [h.name for h in obs.holders if h.kind == "session"]
    assert f"pid {snap_pid}" in sessions
    assert f"pid {monitor.info.backend_pid}" not in sessions  # never itself
    names = {d.database for d in obs.databases}
    assert {"app", "template0"} <= names
    assert obs.worst.xid_pct < 5  # the healthy sandbox
    assert obs.oldest_relations and obs.settings["autovacuum_freeze_max_age"]


def test_replication_and_size_on_the_sandbox(sandbox: Sandbox, monitor: Any) -> None:
    obs = pg_stats.replication(monitor, target="main")
    assert not obs.in_recovery and obs.current_lsn
    [standby] = [r for r in obs.replicas if r.name == postgres.STANDBY_NAME]
    assert standby.state == "streaming" and standby.replay_bytes is not None
    size = pg_stats.database_size(monitor, target="main")
    assert size.database == "app" and size.bytes > 1_000_000


def test_stale_replay_lag_of_a_caught_up_replica_is_no_lag() -> None:
    base = dict(name="r", client=None, state="streaming", sync_state="async", sent_bytes=0,
                reply_time=None)
    assert pg_stats.Replica(replay_lag_s=8.3, replay_bytes=0, **base).lag_s == 0.0
    assert pg_stats.Replica(replay_lag_s=None, replay_bytes=4096, **base).lag_s == 0.0
    assert pg_stats.Replica(replay_lag_s=8.3, replay_bytes=4096, **base).lag_s == 8.3


@pytest.mark.parametrize("value", [-1, [], ["a", "a"], [" "]])
def test_inventory_rejects_bad_replicas(value: Any) -> None:
    with pytest.raises(ValidationError, match="replicas"):
        Postgres(name="main", dsn="postgresql://m@127.0.0.1/app", replicas=value)


@pytest.mark.parametrize("value", [None, 0, 2, ["standby1", "standby2"]])
def test_inventory_accepts_replicas(value: Any) -> None:
    assert Postgres(name="main", dsn="postgresql://m@127.0.0.1/app", replicas=value).replicas \
        == value
