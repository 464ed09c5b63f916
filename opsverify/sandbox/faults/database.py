"""Database faults: sessions that hog, run away, forget to commit or block each other.

These need sessions that stay open while the checks run, so each fault starts a small holder
process (this module run as ``python -m opsverify.sandbox.faults.database``) recorded in the
sandbox state through ``sb.spawn``; revert stops it and terminates its backends on the server
side too, because PostgreSQL would keep running a ``pg_sleep`` whose client has gone.
The holder connects as the superuser over TCP; the DSN reaches it in its environment, never in
argv. Every session is named ``opsverify-fault-<fault>`` so revert finds exactly those.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

from opsverify.sandbox import postgres
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

SPEC_ENV = "OPSVERIFY_PG_HOLD"
DSN_ENV = "OPSVERIFY_PG_HOLD_DSN"
IDLE_CONNECTIONS = 42  # of max_connections 50 in the sandbox: 84 %, above the 80 % limit
BLOCKING_SQL = "UPDATE users SET email = email WHERE id = 1"


def _app(fault: str) -> str:
    return f"opsverify-fault-{fault}"


def _sessions_sql(app: str, extra: str = "") -> str:
    return (f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' {extra}")


def _hold(sb: Sandbox, fault: str, sessions: list[dict[str, Any]], ready_sql: str,
          want: int) -> None:
    """Start the holder, then wait until the server shows the sessions it should hold."""
    app = _app(fault)
    spec = {"app": app, "sessions": sessions}
    sb.spawn(f"fault-{fault}", [sys.executable, "-m", __name__],
             env={SPEC_ENV: json.dumps(spec), DSN_ENV: postgres.superuser_dsn(sb)},
             log=f"fault-{fault}.log")
    deadline = time.monotonic() + 20
    while True:
        got = int(postgres.psql(sb, ready_sql.format(app=app)) or 0)
        if got >= want:
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"{fault}: holder has {got} of {want} sessions after 20s "
                               f"(see logs/fault-{fault}.log)")
        time.sleep(0.1)


def _release(sb: Sandbox, fault: str) -> None:
    """Stop the holder and terminate whatever its sessions left running on the server."""
    app = _app(fault)
    # Waiters go first: if the blocker went first, the waiting UPDATE would get its lock and
    # complete, and pg_stat_statements would keep a multi-second statement after the revert.
    postgres.psql(sb, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      f"WHERE application_name = '{app}' AND wait_event_type = 'Lock'")
    sb.stop_processes(f"fault-{fault}", timeout=3)
    postgres.psql(sb, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      f"WHERE application_name = '{app}'")
    deadline = time.monotonic() + 10
    while int(postgres.psql(sb, _sessions_sql(app)) or 0):
        if time.monotonic() > deadline:
            raise SandboxError(f"{fault}: sessions of {app} still present after 10s")
        time.sleep(0.1)


# --- faults -----------------------------------------------------------------------------------
def _connections_inject(sb: Sandbox) -> None:
    _hold(sb, "pg_connections_near_max", [{"sql": ["SELECT 1"]}] * IDLE_CONNECTIONS,
          _sessions_sql("{app}"), IDLE_CONNECTIONS)


def _long_query_inject(sb: Sandbox) -> None:
    _hold(sb, "pg_long_query",
          [{"sql": ["SELECT count(*) FROM studies, pg_sleep(3600)"], "background": True}],
          _sessions_sql("{app}", "AND state = 'active' AND query LIKE '%pg_sleep%'"), 1)


def _idle_tx_inject(sb: Sandbox) -> None:
    _hold(sb, "pg_idle_in_transaction",
          [{"sql": ["SELECT count(*) FROM users"], "tx": True}],
          _sessions_sql("{app}", "AND state = 'idle in transaction'"), 1)


def _lock_wait_inject(sb: Sandbox) -> None:
    # The classic: a transaction updated a row and was never committed; the next writer of
    # that row waits behind it.
    _hold(sb, "pg_lock_wait",
          [{"sql": [BLOCKING_SQL], "tx": True},
           {"sql": [BLOCKING_SQL], "background": True}],
          _sessions_sql("{app}", "AND wait_event_type = 'Lock'"), 1)


def _slow_statements_inject(sb: Sandbox) -> None:
    postgres.psql(sb, "SELECT pg_stat_statements_reset();\n"
                      "SELECT count(*) FROM studies, pg_sleep(1.3);", timeout=30)


def _slow_statements_revert(sb: Sandbox) -> None:
    postgres.psql(sb, "SELECT pg_stat_statements_reset()")


THRASH_TABLE = "opsverify_fault_thrash"


def _thrash_inject(sb: Sandbox) -> None:
    # 40 MB, more than shared_buffers (32 MB): sequential scans read it through a small ring
    # and miss the cache, as a report scanning a big table does in production. Two sessions:
    # the first one's statistics are flushed when it exits, before the reset; ANALYZE after
    # the reset keeps the new table from looking never analyzed (DB-007).
    postgres.psql(sb, f"""
        SET pg_stat_statements.track = 'none';  -- the set-up itself is not a slow statement
        DROP TABLE IF EXISTS {THRASH_TABLE};
        CREATE TABLE {THRASH_TABLE} AS
            SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 180000) AS g;""",
                  timeout=60)
    postgres.psql(sb, f"""
        SET pg_stat_statements.track = 'none';
        SELECT pg_stat_reset();
        ANALYZE {THRASH_TABLE};
        SELECT count(*) FROM {THRASH_TABLE};
        SELECT count(*) FROM {THRASH_TABLE};
        SELECT count(*) FROM {THRASH_TABLE};""", timeout=60)


def _thrash_revert(sb: Sandbox) -> None:
    postgres.psql(sb, f"DROP TABLE IF EXISTS {THRASH_TABLE};\nSELECT pg_stat_reset();")


def _autovacuum_inject(sb: Sandbox) -> None:
    # Autovacuum switched off on a busy table: every row rewritten, nothing cleans up. The
    # table's counters are reset first so that its last (auto)vacuum is "never" rather than
    # the bootstrap's, which a real table would reach after a week.
    postgres.psql(sb, """
        SET pg_stat_statements.track = 'none';
        ALTER TABLE studies SET (autovacuum_enabled = false);
        SELECT pg_stat_reset_single_table_counters('studies'::regclass);
        UPDATE studies SET description = description;""", timeout=60)


def _autovacuum_revert(sb: Sandbox) -> None:
    postgres.psql(sb, "SET pg_stat_statements.track = 'none';\n"
                      "ALTER TABLE studies RESET (autovacuum_enabled);\n"
                      "VACUUM ANALYZE studies;", timeout=60)


def _holder(name: str, description: str, inject: Any) -> Fault:
    return Fault(name, "database", description, inject, lambda sb: _release(sb, name))


FAULTS = [
    _holder("pg_connections_near_max",
            f"{IDLE_CONNECTIONS} idle sessions held open (max_connections 50)",
            _connections_inject),
    _holder("pg_long_query", "a SELECT ... pg_sleep(3600) keeps running", _long_query_inject),
    _holder("pg_idle_in_transaction", "a session opened a transaction and went idle",
            _idle_tx_inject),
    _holder("pg_lock_wait", "an uncommitted UPDATE of users row 1 blocks a second UPDATE",
            _lock_wait_inject),
    Fault("pg_cache_thrash", "database",
          "a 40 MB table (> shared_buffers) scanned 3 times after a statistics reset",
          _thrash_inject, _thrash_revert),
    Fault("pg_autovacuum_off", "database",
          "autovacuum disabled on studies, every row rewritten (5000 dead rows, never vacuumed)",
          _autovacuum_inject, _autovacuum_revert),
    Fault("pg_slow_statements", "database",
          "pg_stat_statements records a statement with a 1.3 s mean (pg_sleep)",
          _slow_statements_inject, _slow_statements_revert),
]


# --- the holder process -----------------------------------------------------------------------
def _run_session(dsn: str, app: str, session: dict[str, Any], opened: list[Any]) -> None:
    import psycopg

    conn = psycopg.connect(dsn, application_name=app, autocommit=not session.get("tx"))
    opened.append(conn)
    for sql in session["sql"]:
        conn.execute(sql)


def main() -> int:
    """Open the sessions of the spec in order, then hold them until terminated."""
    spec = json.loads(os.environ[SPEC_ENV])
    dsn = os.environ[DSN_ENV]
    opened: list[Any] = []
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for session in spec["sessions"]:
        if session.get("background"):
            threading.Thread(target=_run_session, args=(dsn, spec["app"], session, opened),
                             daemon=True).start()
            time.sleep(0.2)
        else:
            _run_session(dsn, spec["app"], session, opened)
    print(f"holding {len(spec['sessions'])} session(s) as {spec['app']}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
