"""Streaming replication: every expected replica is connected, streaming and caught up.

Read on the primary from pg_stat_replication (pg_monitor sees the positions and lags). The
inventory says which replicas to expect (``replicas: 2`` or their application_names); an item
that declares none is skipped, since a primary without replicas is a valid design.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import pg_stats

MB = 2**20


def _lag_problem(r: pg_stats.Replica, max_s: float, max_mb: float) -> str | None:
    parts = []
    if r.replay_bytes is not None and r.replay_bytes > max_mb * MB:
        parts.append(f"{r.replay_bytes / MB:,.1f} MB of WAL behind the primary "
                     f"(replication_lag_mb {max_mb:g})")
    if r.lag_s > max_s:
        parts.append(f"replaying {r.lag_s:,.1f}s behind (replication_lag_s {max_s:g})")
    return f"replica {r.name} is " + " and ".join(parts) if parts else None


@check(
    id="DB-010",
    title="Every expected replica is streaming with a replay lag under the limits",
    severity="critical",
    schedules=["daily"],
    targets="postgres",
    rationale="""A replica is there to take over or to serve reads: one that is disconnected,
        stuck in catch-up or replaying far behind turns a failover into data loss (everything
        not replayed is gone) and serves stale reads meanwhile. The runbooks list replication
        lag among the database metrics to watch. The lag is judged in time (replay_lag,
        replication_lag_s) and in WAL not yet replayed (pg_wal_lsn_diff against the primary's
        current position, replication_lag_mb: the default 1 GB is one max_wal_size of WAL, past
        which a replica without a slot risks needing WAL the primary has already recycled).""",
    remediation="""On the replica: is it running, and what does its log say (connection
        refused, authentication, 'requested WAL segment has already been removed': then it
        must be rebuilt with pg_basebackup)? SELECT pg_is_wal_replay_paused() shows a replay
        paused by hand (SELECT pg_wal_replay_resume()); a replica replaying behind is starved
        of I/O or CPU, or replays a long conflict (max_standby_streaming_delay). On the
        primary: pg_stat_replication lists what is connected.""",
    references=["runbook 000 DICOM viewer: Key Metrics (Database): replication lag",
                "https://www.postgresql.org/docs/15/monitoring-stats.html"
                "#MONITORING-PG-STAT-REPLICATION-VIEW"],
)
def test_replicas_streaming_without_lag(target: Any, inventory: Inventory,
                                        pg_session: psycopg.Connection[Any]) -> None:
    expected = target.replicas
    if not expected:
        pytest.skip(f"{target.name}: declares no replicas (inventory key replicas): "
                    "replication not judged")
    max_s = inventory.threshold("replication_lag_s", target)
    max_mb = inventory.threshold("replication_lag_mb", target)
    attach_threshold(replication_lag_s=max_s, replication_lag_mb=max_mb)
    obs = pg_stats.replication(pg_session, target=target.name)
    attach("replication", {"expected": expected, "current_lsn": obs.current_lsn,
                           "replicas": [{**r.__dict__, "judged_lag_s": r.lag_s}
                                        for r in obs.replicas],
                           "base_backups_running": obs.base_backups})
    if obs.in_recovery:
        raise ProbeError(target.name, "the dsn points at a standby (in recovery): replication "
                                      "is judged on the primary")
    problems: list[str] = []
    if isinstance(expected, list):
        judged = []
        for name in expected:
            found = [r for r in obs.replicas if r.name == name]
            if not found:
                problems.append(f"replica {name} is not connected to the primary")
            elif found[0].state != "streaming":
                problems.append(f"replica {name} is in state {found[0].state}, not streaming")
            else:
                judged.append(found[0])
    else:
        judged = [r for r in obs.replicas if r.state == "streaming"]
        if len(judged) < expected:
            seen = ", ".join(f"{r.name or '?'} ({r.state})" for r in obs.replicas) or "none"
            problems.append(f"{len(judged)} of {expected} expected replicas streaming "
                            f"(connected: {seen})")
    problems += [p for r in judged if (p := _lag_problem(r, max_s, max_mb))]
    assert not problems, f"{target.name}: " + "; ".join(problems)
