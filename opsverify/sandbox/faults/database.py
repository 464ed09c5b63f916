"""Database faults: sessions that hog, run away, forget to commit or block each other.

These need sessions that stay open while the checks run, so each fault starts a small holder
process (this module run as ``python -m opsverify.sandbox.faults.database``) recorded in the
sandbox state through ``sb.spawn``; revert stops it and terminates its backends on the server
side too, because PostgreSQL would keep running a ``pg_sleep`` whose client has gone.
The holder connects as the superuser over TCP; the DSN reaches it in its environment, never in
argv. Every session is named ``opsverify-fault-<fault>`` so revert finds exactly those.

The later faults change the cluster itself: a forgotten replication slot while the XID
counter jumps ahead (pg_resetwal), a runaway import that grows the database, and the streaming
standby paused or stopped (knobs of :mod:`opsverify.sandbox.postgres`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opsverify.sandbox import postgres
from opsverify.sandbox.base import Fault, Sandbox, SandboxError, run

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


# --- wraparound, growth, replication ----------------------------------------------------------
#: The forgotten consumer of pg_xid_wraparound_near: a logical replication slot nobody reads.
XID_SLOT = "opsverify_forgotten_cdc"
#: age(datfrozenxid) the fault leaves, as a share of the 2^31 wraparound limit (DB-008 fails
#: above xid_age_max_pct, 50 % by default; PostgreSQL only warns from ~98 %)
XID_TARGET_PCT = 60
XACT_SEGMENT_XIDS = 32 * 8192 * 4  # pg_xact: 32 pages of 8 kB, 4 transactions per byte
XACT_SEGMENT_BYTES = 32 * 8192
FIRST_NORMAL_XID = 3


def _pg_tool(sb: Sandbox, tool: str, *args: str, timeout: float = 60) -> str:
    pg = postgres.info(sb)
    return run(["runuser", "-u", "postgres", "--", f"{pg['bin_dir']}/{tool}", *args],
               timeout=timeout, cwd=pg["socket_dir"]).stdout


def _next_xid(sb: Sandbox) -> tuple[int, int]:
    """(epoch, xid) of the stopped cluster's next transaction ID, from pg_controldata."""
    out = _pg_tool(sb, "pg_controldata", "-D", postgres.info(sb)["data_dir"])
    for line in out.splitlines():
        if line.startswith("Latest checkpoint's NextXID:"):
            epoch, xid = line.split(":", 1)[1].strip().split(":")
            return int(epoch), int(xid)
    raise SandboxError("pg_controldata shows no NextXID")


def _xid_inject(sb: Sandbox) -> None:
    """A forgotten logical slot pins the freeze horizon while transaction IDs advance.

    The classic incident: a change-data-capture consumer (or a decommissioned logical
    replica) left its slot behind; its catalog_xmin keeps VACUUM from freezing the system
    catalogs of every database, so age(datfrozenxid) grows with every transaction until the
    cluster refuses writes. A billion real transactions take days, so the cluster's XID
    counter is moved forward with pg_resetwal -x on a cleanly stopped server (the same jump
    a busy system makes over weeks); the slot then does what it does in production:
    autovacuum's anti-wraparound runs, which pg_resetwal triggers at once, cannot advance
    datfrozenxid past it.

    Why a slot and not a forgotten prepared transaction (the other classic): at start-up
    PostgreSQL zeroes pg_subtrans from the oldest prepared XID to the next XID, 4 bytes per
    XID; with a 1.3 billion jump that is ~5 GB written and ~23 s of start-up (measured: a
    200 million jump gave 763 MB of pg_subtrans and a 3.6 s start; 20 million, 77 MB). A
    slot is not an active transaction and costs nothing at start-up.
    """
    pg = postgres.info(sb)
    postgres.psql(sb, f"SELECT pg_create_logical_replication_slot('{XID_SLOT}', 'pgoutput')")
    oldest_age = int(postgres.psql(sb, "SELECT max(age(datfrozenxid)) FROM pg_database"))
    jump = int(XID_TARGET_PCT / 100 * 2**31) - oldest_age
    standby = postgres.standby_running(sb)
    if standby:
        postgres.stop_standby(sb)
    postgres.stop(sb)
    epoch, xid = _next_xid(sb)
    new_epoch, new_xid = divmod((epoch << 32) + xid + jump, 2**32)
    new_xid = max(new_xid, FIRST_NORMAL_XID)
    # pg_resetwal -x: the pg_xact segment holding the new next XID must exist (docs); it
    # starts zero-filled (all "in progress"), as a fresh segment always does.
    segment = Path(pg["data_dir"]) / "pg_xact" / f"{new_xid // XACT_SEGMENT_XIDS:04X}"
    if not segment.exists():
        segment.write_bytes(bytes(XACT_SEGMENT_BYTES))
        segment.chmod(0o600)
        shutil.chown(segment, "postgres", "postgres")
    _pg_tool(sb, "pg_resetwal", "-x", str(new_xid), "-e", str(new_epoch), "-D",
             pg["data_dir"])
    postgres.start(sb)
    if standby:  # a standby cannot follow across pg_resetwal: make it anew from the primary
        postgres.rebuild_standby(sb)


def _xid_revert(sb: Sandbox) -> None:
    """The runbook's remedy: drop the forgotten slot, then VACUUM (FREEZE) every database."""
    if not postgres.running(sb):  # a half-done inject left the server stopped
        postgres.start(sb)
    postgres.psql(sb, "SELECT count(pg_drop_replication_slot(slot_name)) FROM "
                      f"pg_replication_slots WHERE slot_name = '{XID_SLOT}'")
    databases = postgres.psql(sb, "SELECT datname FROM pg_database ORDER BY 1").split()
    # template0 accepts no connections: allowed for the freeze only (autovacuum would do it
    # too, but not within a bounded time)
    postgres.psql(sb, "ALTER DATABASE template0 ALLOW_CONNECTIONS true")
    try:
        for db in databases:
            postgres.psql(sb, "SET pg_stat_statements.track = 'none';\nVACUUM (FREEZE);",
                          db=db, timeout=120)
    finally:
        postgres.psql(sb, "ALTER DATABASE template0 ALLOW_CONNECTIONS false")
    left = int(postgres.psql(sb, "SELECT max(age(datfrozenxid)) FROM pg_database"))
    if left > 0.05 * 2**31:
        raise SandboxError(f"pg_xid_wraparound_near: age(datfrozenxid) still {left:,} after "
                           "VACUUM (FREEZE) of every database")
    if sb.state.get("postgres_standby") and not postgres.standby_running(sb):
        postgres.rebuild_standby(sb)


GROW_SCHEMA = "opsverify_fault_grow"
GROW_ROWS = 150_000  # ~32 MB: well over the sandbox's db_growth_min_mb (8) and 20 %


def _grow_inject(sb: Sandbox) -> None:
    # A runaway import into a log table, written by the application's own role. ANALYZE so
    # the new table is not also "never analyzed" (DB-007); track=none keeps the set-up out
    # of pg_stat_statements.
    postgres.psql(sb, f"""
        SET pg_stat_statements.track = 'none';
        SET ROLE app;
        CREATE SCHEMA IF NOT EXISTS {GROW_SCHEMA};
        DROP TABLE IF EXISTS {GROW_SCHEMA}.import_log;
        CREATE TABLE {GROW_SCHEMA}.import_log AS
            SELECT g AS id, now() AS at, repeat(md5(g::text), 6) AS payload
            FROM generate_series(1, {GROW_ROWS}) AS g;
        ANALYZE {GROW_SCHEMA}.import_log;""", timeout=120)


def _grow_revert(sb: Sandbox) -> None:
    # Every block the import added counted as a read in pg_stat_database (relation extension
    # is a buffer miss): reset the counters, as after pg_cache_thrash, so the hit ratio
    # (DB-006) of the checks that run next is not the import's.
    postgres.psql(sb, f"DROP SCHEMA IF EXISTS {GROW_SCHEMA} CASCADE;\nSELECT pg_stat_reset();")


WAL_TABLE = "opsverify_fault_wal"
WAL_ROWS = 200_000  # ~50 MB of WAL: over the sandbox's replication_lag_mb (32)


def _replay_paused_inject(sb: Sandbox) -> None:
    # Someone paused replay on the replica (pg_wal_replay_pause, e.g. to take a consistent
    # read there) and forgot it; the primary keeps writing. The table is dropped at once:
    # its WAL is what the replica has not replayed, the database does not grow. Written in
    # the postgres database: new blocks count as reads in pg_stat_database, and the
    # application database's hit ratio (DB-006) is not what this fault is about.
    postgres.standby_psql(sb, "SELECT pg_wal_replay_pause()")
    postgres.psql(sb, db="postgres", sql=f"""
        SET pg_stat_statements.track = 'none';
        CREATE TABLE {WAL_TABLE} AS
            SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, {WAL_ROWS}) AS g;
        DROP TABLE {WAL_TABLE};""", timeout=120)


def _replay_paused_revert(sb: Sandbox) -> None:
    postgres.psql(sb, f"DROP TABLE IF EXISTS {WAL_TABLE}", db="postgres")
    if not postgres.standby_running(sb):
        postgres.start_standby(sb)
    postgres.standby_psql(sb, "SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + 30
    while postgres.psql(sb, "SELECT count(*) FROM pg_stat_replication WHERE application_name "
                            f"= '{postgres.STANDBY_NAME}' AND state = 'streaming' AND "
                            "replay_lsn >= pg_current_wal_lsn()") != "1":
        if time.monotonic() > deadline:
            raise SandboxError("pg_replica_replay_paused: the standby did not catch up in 30s")
        time.sleep(0.1)


def _replica_down_revert(sb: Sandbox) -> None:
    if not postgres.standby_running(sb):
        postgres.start_standby(sb)
    postgres.wait_streaming(sb)


FAULTS += [
    Fault("pg_xid_wraparound_near", "database",
          f"a forgotten logical slot ({XID_SLOT}) pins the freeze horizon while the XID "
          f"counter jumps ahead (pg_resetwal -x): age(datfrozenxid) {XID_TARGET_PCT}% of 2^31",
          _xid_inject, _xid_revert),
    Fault("pg_db_grows", "database",
          f"a runaway import writes ~32 MB into {GROW_SCHEMA}.import_log (as the app role)",
          _grow_inject, _grow_revert),
    Fault("pg_replica_replay_paused", "database",
          "replay paused on the standby (pg_wal_replay_pause) while the primary writes ~50 MB "
          "of WAL", _replay_paused_inject, _replay_paused_revert),
    Fault("pg_replica_down", "database", "the streaming standby is stopped",
          postgres.stop_standby, _replica_down_revert),
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
