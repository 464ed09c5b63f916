"""PostgreSQL internals a DBA looks at during an incident, read from the statistics views.

Every function takes a session from :func:`opsverify.probes.postgres.connect` (read-only,
statement timeout) and only SELECTs from ``pg_stat_*``/``pg_locks``/``pg_settings``; a
``pg_monitor`` role sees every session. The probe's own session is always excluded, so the
check never reports itself. Query texts are cut to :data:`QUERY_CHARS` characters: enough to
recognise a statement, little enough to keep data out of the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsverify.errors import ProbeError
from opsverify.probes import postgres as pg

QUERY_CHARS = 200
MAX_ROWS = 20


@dataclass
class Session:
    """One server session as pg_stat_activity shows it (plus lock wait facts when waiting)."""

    pid: int
    user: str | None
    database: str | None
    application: str | None
    client: str | None
    state: str | None
    seconds: float
    wait_event: str | None = None
    blocked_by: list[int] = field(default_factory=list)
    query: str = ""

    def line(self) -> str:
        who = f"pid {self.pid} ({self.user or '?'}@{self.database or '?'}"
        who += f", {self.application})" if self.application else ")"
        blockers = f", blocked by pid {', '.join(map(str, self.blocked_by))}" \
            if self.blocked_by else ""
        return f"{who} {self.seconds:.0f}s{blockers}: {self.query[:80]!r}"


@dataclass
class Connections:
    in_use: int
    max_connections: int
    reserved: int
    by_state: dict[str, int]
    by_user: dict[str, int]

    @property
    def pct(self) -> float:
        return 100.0 * self.in_use / self.max_connections if self.max_connections else 0.0


def connections(conn: psycopg.Connection[Any], *, target: str) -> Connections:
    """Client sessions in use against ``max_connections`` (background workers excluded)."""
    rows = pg.query(conn, """
        SELECT coalesce(state, 'unknown') AS state, coalesce(usename, '?') AS usename,
               count(*) AS n
        FROM pg_stat_activity WHERE backend_type = 'client backend'
        GROUP BY 1, 2""", target=target)
    settings = {r["name"]: int(r["setting"]) for r in pg.query(conn, """
        SELECT name, setting FROM pg_settings
        WHERE name IN ('max_connections', 'superuser_reserved_connections')""", target=target)}
    by_state: dict[str, int] = {}
    by_user: dict[str, int] = {}
    for r in rows:
        by_state[r["state"]] = by_state.get(r["state"], 0) + int(r["n"])
        by_user[r["usename"]] = by_user.get(r["usename"], 0) + int(r["n"])
    return Connections(
        in_use=sum(by_state.values()),
        max_connections=settings.get("max_connections", 0),
        reserved=settings.get("superuser_reserved_connections", 0),
        by_state=dict(sorted(by_state.items(), key=lambda kv: -kv[1])),
        by_user=dict(sorted(by_user.items(), key=lambda kv: -kv[1])[:10]),
    )


_SESSION_COLUMNS = f"""
    a.pid, a.usename AS user, a.datname AS database, a.application_name AS application,
    host(a.client_addr) AS client, a.state,
    CASE WHEN a.wait_event_type IS NULL THEN NULL
         ELSE a.wait_event_type || ':' || a.wait_event END AS wait_event,
    left(a.query, {QUERY_CHARS}) AS query"""


def _sessions(rows: list[dict[str, Any]]) -> list[Session]:
    return [Session(pid=r["pid"], user=r["user"], database=r["database"],
                    application=r["application"] or None, client=r["client"], state=r["state"],
                    seconds=float(r["seconds"] or 0), wait_event=r["wait_event"],
                    blocked_by=list(r.get("blocked_by") or []), query=r["query"] or "")
            for r in rows]


def long_running(conn: psycopg.Connection[Any], min_s: float, *,
                 target: str) -> list[Session]:
    """Active statements running for at least ``min_s`` seconds, longest first."""
    return _sessions(pg.query(conn, f"""
        SELECT {_SESSION_COLUMNS},
               extract(epoch FROM clock_timestamp() - a.query_start) AS seconds
        FROM pg_stat_activity a
        WHERE a.backend_type = 'client backend' AND a.state = 'active'
          AND a.pid <> pg_backend_pid()
          AND clock_timestamp() - a.query_start >= make_interval(secs => %s)
        ORDER BY a.query_start LIMIT {MAX_ROWS}""", (min_s,), target=target))


def idle_in_transaction(conn: psycopg.Connection[Any], min_s: float, *,
                        target: str) -> list[Session]:
    """Sessions idle inside an open transaction for at least ``min_s`` seconds."""
    return _sessions(pg.query(conn, f"""
        SELECT {_SESSION_COLUMNS},
               extract(epoch FROM clock_timestamp() - a.state_change) AS seconds
        FROM pg_stat_activity a
        WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
          AND a.pid <> pg_backend_pid()
          AND clock_timestamp() - a.state_change >= make_interval(secs => %s)
        ORDER BY a.state_change LIMIT {MAX_ROWS}""", (min_s,), target=target))


def lock_waits(conn: psycopg.Connection[Any], min_s: float, *,
               target: str) -> list[Session]:
    """Sessions waiting for a lock for at least ``min_s`` seconds, with who blocks them.

    ``pg_locks.waitstart`` (PostgreSQL 14+) dates the wait itself; on older servers the
    statement start is the best available bound.
    """
    has_waitstart = bool(pg.query(conn, """
        SELECT 1 FROM pg_attribute
        WHERE attrelid = 'pg_catalog.pg_locks'::regclass AND attname = 'waitstart'""",
        target=target))
    since = "coalesce(l.waitstart, a.query_start)" if has_waitstart else "a.query_start"
    return _sessions(pg.query(conn, f"""
        SELECT DISTINCT ON (a.pid) {_SESSION_COLUMNS},
               extract(epoch FROM clock_timestamp() - {since}) AS seconds,
               pg_blocking_pids(a.pid) AS blocked_by
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND a.pid <> pg_backend_pid()
          AND clock_timestamp() - {since} >= make_interval(secs => %s)
        ORDER BY a.pid, seconds DESC LIMIT {MAX_ROWS}""", (min_s,), target=target))


#: first keywords of the statements an application runs; everything else (CREATE DATABASE,
#: VACUUM, CREATE INDEX, GRANT...) is DDL or maintenance, slow by nature and run by hand
DML_KEYWORDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "MERGE", "VALUES", "TABLE")


@dataclass
class Statement:
    query: str
    calls: int
    mean_ms: float
    total_ms: float
    user: str | None
    database: str | None

    @property
    def is_dml(self) -> bool:
        """Whether this is an application statement rather than DDL or maintenance."""
        return self.query.lstrip("( ").upper().startswith(DML_KEYWORDS)


@dataclass
class Statements:
    available: bool
    reason: str = ""
    slowest: list[Statement] = field(default_factory=list)


def slowest_statements(conn: psycopg.Connection[Any], *, target: str,
                       limit: int = 10) -> Statements:
    """The statements with the highest mean time from pg_stat_statements, if installed.

    The extension must be both preloaded and created in the database the DSN points to;
    either missing is reported as the reason, not as an error.
    """
    installed = pg.query(conn, """
        SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements'""", target=target)
    if not installed:
        return Statements(False, "the pg_stat_statements extension is not created in this "
                                 "database (CREATE EXTENSION pg_stat_statements)")
    schema = installed[0]["nspname"]
    try:
        with conn.cursor() as cur:
            cur.execute(f"""
                SELECT left(s.query, {QUERY_CHARS}) AS query, s.calls,
                       s.mean_exec_time AS mean_ms, s.total_exec_time AS total_ms,
                       r.rolname AS user, d.datname AS database
                FROM "{schema}".pg_stat_statements s
                LEFT JOIN pg_roles r ON r.oid = s.userid
                LEFT JOIN pg_database d ON d.oid = s.dbid
                WHERE s.calls > 0
                ORDER BY s.mean_exec_time DESC LIMIT %s""", (limit,))
            rows = cur.fetchall()
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        return Statements(False, f"pg_stat_statements is not loaded: {pg.describe(exc)} "
                                 "(add it to shared_preload_libraries)")
    except psycopg.errors.UndefinedColumn:
        return Statements(False, "pg_stat_statements is older than 1.8 (PostgreSQL 13): "
                                 "mean_exec_time is not available")
    except psycopg.Error as exc:
        raise ProbeError(target, f"reading pg_stat_statements failed: {pg.describe(exc)}"
                         ) from None
    return Statements(True, slowest=[
        Statement(query=" ".join((r["query"] or "").split()), calls=int(r["calls"]),
                  mean_ms=float(r["mean_ms"]), total_ms=float(r["total_ms"]),
                  user=r["user"], database=r["database"]) for r in rows])


@dataclass
class CacheHits:
    database: str
    blocks_hit: int
    blocks_read: int
    stats_reset: str | None

    @property
    def accesses(self) -> int:
        return self.blocks_hit + self.blocks_read

    @property
    def ratio(self) -> float | None:
        return self.blocks_hit / self.accesses if self.accesses else None


def cache_hits(conn: psycopg.Connection[Any], *, target: str) -> CacheHits:
    """Shared-buffer hits and reads of the connected database since its statistics reset."""
    row = pg.query(conn, """
        SELECT datname, blks_hit, blks_read, stats_reset::text AS stats_reset
        FROM pg_stat_database WHERE datname = current_database()""", target=target)[0]
    return CacheHits(database=row["datname"], blocks_hit=int(row["blks_hit"]),
                     blocks_read=int(row["blks_read"]), stats_reset=row["stats_reset"])


@dataclass
class TableMaintenance:
    table: str
    live: int
    dead: int
    modified_since_analyze: int
    vacuum_due: bool
    analyze_due: bool
    last_vacuum: str | None
    last_analyze: str | None
    vacuum_age_days: float | None
    analyze_age_days: float | None
    autovacuum_disabled: bool


def overdue_maintenance(conn: psycopg.Connection[Any], max_age_days: float, *,
                        target: str) -> list[TableMaintenance]:
    """Tables past autovacuum's own trigger whose last (auto)vacuum/analyze is too old or never.

    Why the trigger: a table that barely changes is never vacuumed, and rightly so; only a
    table with more dead rows (or changes) than autovacuum's threshold plus scale factor
    should have been processed. Such a table with no (auto)vacuum/analyze for ``max_age_days``
    means autovacuum is off, blocked or cannot keep up.
    """
    rows = pg.query(conn, """
        WITH s AS (SELECT name, setting::float8 AS v FROM pg_settings WHERE name IN (
            'autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor',
            'autovacuum_analyze_threshold', 'autovacuum_analyze_scale_factor'))
        SELECT format('%I.%I', t.schemaname, t.relname) AS tbl,
               t.n_live_tup AS live, t.n_dead_tup AS dead,
               t.n_mod_since_analyze AS modified,
               t.n_dead_tup > (SELECT v FROM s WHERE name = 'autovacuum_vacuum_threshold')
                 + (SELECT v FROM s WHERE name = 'autovacuum_vacuum_scale_factor')
                   * greatest(c.reltuples, 0) AS vacuum_due,
               t.n_mod_since_analyze > (SELECT v FROM s WHERE name = 'autovacuum_analyze_threshold')
                 + (SELECT v FROM s WHERE name = 'autovacuum_analyze_scale_factor')
                   * greatest(c.reltuples, 0) AS analyze_due,
               greatest(t.last_vacuum, t.last_autovacuum)::text AS last_vacuum,
               greatest(t.last_analyze, t.last_autoanalyze)::text AS last_analyze,
               extract(epoch FROM now() - greatest(t.last_vacuum, t.last_autovacuum)) / 86400
                 AS vacuum_age_days,
               extract(epoch FROM now() - greatest(t.last_analyze, t.last_autoanalyze)) / 86400
                 AS analyze_age_days,
               coalesce('autovacuum_enabled=false' = ANY (c.reloptions), false)
                 AS autovacuum_disabled
        FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid""", target=target)
    out = []
    for r in rows:
        v_age, a_age = r["vacuum_age_days"], r["analyze_age_days"]
        vacuum_late = r["vacuum_due"] and (v_age is None or float(v_age) > max_age_days)
        analyze_late = r["analyze_due"] and (a_age is None or float(a_age) > max_age_days)
        if vacuum_late or analyze_late:
            out.append(TableMaintenance(
                table=r["tbl"], live=int(r["live"]), dead=int(r["dead"]),
                modified_since_analyze=int(r["modified"]), vacuum_due=bool(vacuum_late),
                analyze_due=bool(analyze_late), last_vacuum=r["last_vacuum"],
                last_analyze=r["last_analyze"],
                vacuum_age_days=None if v_age is None else round(float(v_age), 1),
                analyze_age_days=None if a_age is None else round(float(a_age), 1),
                autovacuum_disabled=bool(r["autovacuum_disabled"])))
    return sorted(out, key=lambda t: -t.dead)[:MAX_ROWS]


# --- transaction-ID wraparound ------------------------------------------------------------------
#: XIDs (and multixact IDs) compare modulo 2^32: a value older than 2^31 would read as the future,
#: so PostgreSQL must freeze every row before its age reaches this (docs: "Preventing Transaction
#: ID Wraparound Failures").
WRAPAROUND_LIMIT = 2**31
#: holders of the freeze horizon listed in the evidence (per kind)
HOLDERS_SHOWN = 5


@dataclass
class DatabaseAge:
    database: str
    xid_age: int
    mxid_age: int
    allows_connections: bool

    @property
    def xid_pct(self) -> float:
        return 100.0 * self.xid_age / WRAPAROUND_LIMIT

    @property
    def mxid_pct(self) -> float:
        return 100.0 * self.mxid_age / WRAPAROUND_LIMIT


@dataclass
class HorizonHolder:
    """Something that keeps VACUUM from freezing rows newer than its XID."""

    kind: str  # prepared transaction | session | replication slot | standby feedback
    name: str
    xid_age: int
    detail: str = ""

    def line(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind} {self.name}{extra}: {self.xid_age:,} transactions old"


@dataclass
class XidAges:
    databases: list[DatabaseAge]
    oldest_relations: list[dict[str, Any]]  # in the connected database only (pg_class is per db)
    holders: list[HorizonHolder]
    settings: dict[str, str]

    @property
    def worst(self) -> DatabaseAge:
        return max(self.databases, key=lambda d: max(d.xid_age, d.mxid_age))


def xid_ages(conn: psycopg.Connection[Any], *, target: str) -> XidAges:
    """Transaction-ID and multixact ages of every database, and what holds the horizon back.

    age(datfrozenxid) is how far the oldest unfrozen XID of a database lags the next XID; the
    worst relations of the connected database and the holders (prepared transactions,
    sessions, replication slots, standbys with hot_standby_feedback) are the evidence an
    on-call engineer needs to act. Everything here is readable with pg_monitor.
    """
    dbs = [DatabaseAge(database=r["datname"], xid_age=int(r["xid_age"]),
                       mxid_age=int(r["mxid_age"]), allows_connections=bool(r["datallowconn"]))
           for r in pg.query(conn, """
               SELECT datname, age(datfrozenxid) AS xid_age, mxid_age(datminmxid) AS mxid_age,
                      datallowconn
               FROM pg_database ORDER BY age(datfrozenxid) DESC""", target=target)]
    if not dbs:
        raise ProbeError(target, "pg_database returned no database")
    rels = pg.query(conn, """
        SELECT format('%%I.%%I', n.nspname, c.relname) AS relation,
               age(c.relfrozenxid) AS xid_age,
               mxid_age(c.relminmxid) AS mxid_age,
               pg_size_pretty(pg_total_relation_size(c.oid)) AS size
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 't')
        ORDER BY age(c.relfrozenxid) DESC LIMIT %s""", (HOLDERS_SHOWN,), target=target)
    holders: list[HorizonHolder] = []
    for r in pg.query(conn, """
            SELECT gid, owner, database, prepared::text AS prepared, age(transaction) AS xid_age
            FROM pg_prepared_xacts ORDER BY age(transaction) DESC LIMIT %s""",
            (HOLDERS_SHOWN,), target=target):
        holders.append(HorizonHolder("prepared transaction", repr(r["gid"]), int(r["xid_age"]),
                                     f"owner {r['owner']}, database {r['database']}, "
                                     f"prepared {r['prepared']}"))
    for r in pg.query(conn, """
            SELECT pid, usename, datname, application_name, state,
                   greatest(age(backend_xid), age(backend_xmin)) AS xid_age,
                   xact_start::text AS xact_start
            FROM pg_stat_activity
            WHERE (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)
              AND pid <> pg_backend_pid()
            ORDER BY 6 DESC LIMIT %s""", (HOLDERS_SHOWN,), target=target):
        holders.append(HorizonHolder(
            "session", f"pid {r['pid']}", int(r["xid_age"]),
            f"{r['usename']}@{r['datname']}, {r['application_name'] or 'no application_name'}, "
            f"{r['state']}, transaction started {r['xact_start']}"))
    for r in pg.query(conn, """
            SELECT slot_name, slot_type, database, active,
                   greatest(age(xmin), age(catalog_xmin)) AS xid_age
            FROM pg_replication_slots WHERE xmin IS NOT NULL OR catalog_xmin IS NOT NULL
            ORDER BY 5 DESC LIMIT %s""", (HOLDERS_SHOWN,), target=target):
        holders.append(HorizonHolder(
            "replication slot", repr(r["slot_name"]), int(r["xid_age"]),
            f"{r['slot_type']}{', database ' + r['database'] if r['database'] else ''}, "
            f"{'active' if r['active'] else 'inactive'}"))
    for r in pg.query(conn, """
            SELECT application_name, age(backend_xmin) AS xid_age FROM pg_stat_replication
            WHERE backend_xmin IS NOT NULL ORDER BY 2 DESC LIMIT %s""",
            (HOLDERS_SHOWN,), target=target):
        holders.append(HorizonHolder("standby feedback", repr(r["application_name"]),
                                     int(r["xid_age"]), "hot_standby_feedback"))
    settings = {r["name"]: r["setting"] for r in pg.query(conn, """
        SELECT name, setting FROM pg_settings WHERE name IN (
            'autovacuum', 'autovacuum_freeze_max_age', 'autovacuum_multixact_freeze_max_age',
            'vacuum_failsafe_age', 'vacuum_freeze_min_age')""", target=target)}
    return XidAges(databases=dbs, oldest_relations=[dict(r) for r in rels],
                   holders=sorted(holders, key=lambda h: -h.xid_age), settings=settings)


# --- database size --------------------------------------------------------------------------------
@dataclass
class DatabaseSize:
    database: str
    bytes: int


def database_size(conn: psycopg.Connection[Any], *, target: str) -> DatabaseSize:
    """Size on disk of the database the DSN points to (pg_database_size, as the runbooks ask).

    Only the connected database: scratch databases of restore drills come and go, and the
    size of a database dropped while it is being measured is an error, not a number.
    """
    row = pg.query(conn, "SELECT current_database() AS db, "
                         "pg_database_size(current_database()) AS bytes", target=target)[0]
    return DatabaseSize(database=row["db"], bytes=int(row["bytes"]))


# --- replication --------------------------------------------------------------------------------
@dataclass
class Replica:
    """One walsender on the primary, as pg_stat_replication shows it."""

    name: str  # application_name
    client: str | None
    state: str | None
    sync_state: str | None
    replay_lag_s: float | None  # None: nothing to measure (caught up and idle)
    replay_bytes: int | None  # WAL written on the primary and not yet replayed
    sent_bytes: int | None  # WAL written on the primary and not yet sent
    reply_time: str | None

    @property
    def lag_s(self) -> float:
        """Replay lag that is current: a caught-up replica has none, whatever replay_lag says.

        pg_stat_replication keeps showing the last measured replay_lag for a moment after the
        standby caught up; with nothing left to replay the lag is zero.
        """
        if not self.replay_bytes or self.replay_lag_s is None:
            return 0.0
        return self.replay_lag_s


@dataclass
class Replication:
    in_recovery: bool
    current_lsn: str | None
    replicas: list[Replica]  # streaming clients (base backups excluded)
    base_backups: list[str]


def replication(conn: psycopg.Connection[Any], *, target: str) -> Replication:
    """The primary's view of its replicas: state, replay lag in seconds and bytes.

    The lag columns are NULL for a role without pg_read_all_stats (pg_monitor has it): that
    is a ProbeError, not "no lag". Walsenders of pg_basebackup (state 'backup') are not
    replicas and are listed apart.
    """
    head = pg.query(conn, """
        SELECT pg_is_in_recovery() AS rec,
               CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END
                 AS lsn""", target=target)[0]
    rows = pg.query(conn, """
        SELECT application_name, host(client_addr) AS client, state, sync_state,
               extract(epoch FROM replay_lag)::float8 AS replay_lag_s,
               CASE WHEN pg_is_in_recovery() THEN NULL
                    ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint END
                 AS replay_bytes,
               CASE WHEN pg_is_in_recovery() THEN NULL
                    ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint END
                 AS sent_bytes,
               reply_time::text AS reply_time
        FROM pg_stat_replication ORDER BY application_name""", target=target)
    if rows and all(r["state"] is None for r in rows):
        raise ProbeError(target, "pg_stat_replication hides the replicas' state and positions "
                                 "from this role: grant it pg_monitor (or pg_read_all_stats)")
    replicas, backups = [], []
    for r in rows:
        if r["state"] == "backup":
            backups.append(r["application_name"] or "?")
            continue
        replicas.append(Replica(
            name=r["application_name"] or "", client=r["client"], state=r["state"],
            sync_state=r["sync_state"], replay_lag_s=r["replay_lag_s"],
            replay_bytes=None if r["replay_bytes"] is None else int(r["replay_bytes"]),
            sent_bytes=None if r["sent_bytes"] is None else int(r["sent_bytes"]),
            reply_time=r["reply_time"]))
    return Replication(in_recovery=bool(head["rec"]), current_lsn=head["lsn"],
                       replicas=replicas, base_backups=backups)
