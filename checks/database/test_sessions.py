"""PostgreSQL sessions: connection headroom, runaway queries, forgotten transactions, locks.

All read from pg_stat_activity and pg_locks through one read-only session per target; the
check's own session is never reported.
"""

from __future__ import annotations

from typing import Any

import psycopg

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import pg_stats

RUNBOOK_SESSIONS = "runbook 000 DICOM viewer: Database Issues (pg_stat_activity, long queries)"


def _listing(sessions: list[pg_stats.Session], limit: int = 3) -> str:
    shown = "; ".join(s.line() for s in sessions[:limit])
    more = f" (and {len(sessions) - limit} more)" if len(sessions) > limit else ""
    return shown + more


@check(
    id="DB-001",
    title="PostgreSQL connections in use stay below the limit's share of max_connections",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="postgres",
    rationale="""When max_connections is reached every new session is refused: the
        application fails even though the database is healthy. The runbooks watch the
        connection count (AlloDoc: < 50) and recommend pooling before the limit is hit.""",
    remediation="""Runbook 'Connection Pool Exhaustion': list sessions by application and state
        (SELECT application_name, state, count(*) FROM pg_stat_activity GROUP BY 1, 2), close
        idle ones from leaking clients (pg_terminate_backend), put a pooler (PgBouncer) in front,
        and raise max_connections only with the memory to back it.""",
    references=["runbook 004 Medical Device Regulatory Assistant: Connection Pool Exhaustion",
                "runbook 003 SpherosegV4: Database Connection Issues",
                "runbook 002 AlloDoc: Key Metrics (database connections < 50)"],
)
def test_connections_below_limit(target: Any, inventory: Inventory,
                                 pg_session: psycopg.Connection[Any]) -> None:
    limit = inventory.threshold("db_connections_max_pct", target)
    attach_threshold(db_connections_max_pct=limit)
    obs = pg_stats.connections(pg_session, target=target.name)
    attach("connections", {**obs.__dict__, "pct_of_max": round(obs.pct, 1)})
    assert obs.pct <= limit, (
        f"{target.name}: {obs.in_use} of max_connections {obs.max_connections} in use "
        f"({obs.pct:.0f}%) exceeds db_connections_max_pct {limit:g}% "
        f"(by state: {obs.by_state}; top users: {dict(list(obs.by_user.items())[:3])})")


@check(
    id="DB-002",
    title="No query has been running longer than the long-query limit",
    severity="normal",
    schedules=["daily"],
    targets="postgres",
    rationale="""A statement running for minutes holds locks, snapshots and a connection, and
        usually means a missing index, a runaway report or a stuck migration. The runbooks look
        for queries older than 5 minutes and terminate those older than 10.""",
    remediation="""Runbook 'Database Issues': identify the statement (pg_stat_activity by
        query_start), EXPLAIN it, and cancel it (pg_cancel_backend) or terminate the session
        (pg_terminate_backend) if it is not expected; set statement_timeout for the role.""",
    references=[RUNBOOK_SESSIONS, "runbook 003 SpherosegV4: Find slow queries (> 5 minutes)"],
)
def test_no_long_running_queries(target: Any, inventory: Inventory,
                                 pg_session: psycopg.Connection[Any]) -> None:
    limit = inventory.threshold("long_query_s", target)
    attach_threshold(long_query_s=limit)
    found = pg_stats.long_running(pg_session, limit, target=target.name)
    attach("long-running queries", found)
    assert not found, (
        f"{target.name}: {len(found)} quer{'y has' if len(found) == 1 else 'ies have'} been "
        f"running longer than long_query_s {limit:g}s: {_listing(found)}")


@check(
    id="DB-003",
    title="No session stays idle inside an open transaction beyond the limit",
    severity="normal",
    schedules=["daily"],
    targets="postgres",
    rationale="""A session idle in transaction keeps its locks and its snapshot: it blocks
        DDL and other writers, and stops VACUUM from removing dead rows, so tables bloat. It is
        almost always an application that forgot to commit or a console left open.""",
    remediation="""Find the owner (application_name, client address) and fix the missing
        commit/rollback; terminate the session if it is abandoned (pg_terminate_backend); set
        idle_in_transaction_session_timeout for the application's role.""",
    references=[RUNBOOK_SESSIONS,
                "runbook 004 Medical Device Regulatory Assistant: Kill idle connections"],
)
def test_no_idle_in_transaction_sessions(target: Any, inventory: Inventory,
                                         pg_session: psycopg.Connection[Any]) -> None:
    limit = inventory.threshold("idle_in_transaction_s", target)
    attach_threshold(idle_in_transaction_s=limit)
    found = pg_stats.idle_in_transaction(pg_session, limit, target=target.name)
    attach("idle in transaction", found)
    assert not found, (
        f"{target.name}: {len(found)} session(s) idle in transaction longer than "
        f"idle_in_transaction_s {limit:g}s: {_listing(found)}")


@check(
    id="DB-004",
    title="No session has been waiting on a lock longer than the lock-wait limit",
    severity="critical",
    schedules=["daily", "postdeploy"],
    targets="postgres",
    rationale="""Sessions queued behind a lock are requests hanging for users; the queue grows
        until connections run out. The runbooks list lock waits and lock timeouts among the
        database symptoms to watch.""",
    remediation="""Find the blocker (pg_blocking_pids of the waiting pid) and what it is doing:
        an open transaction or a long migration; commit, cancel or terminate the blocker
        (pg_terminate_backend), and run schema changes with lock_timeout set.""",
    references=["runbook 000 DICOM viewer: Database Metrics (lock waits), Database Issues "
                "(lock timeouts)"],
)
def test_no_long_lock_waits(target: Any, inventory: Inventory,
                            pg_session: psycopg.Connection[Any]) -> None:
    limit = inventory.threshold("lock_wait_s", target)
    attach_threshold(lock_wait_s=limit)
    found = pg_stats.lock_waits(pg_session, limit, target=target.name)
    attach("lock waits", found)
    assert not found, (
        f"{target.name}: {len(found)} session(s) waiting on a lock longer than lock_wait_s "
        f"{limit:g}s: {_listing(found)}")
