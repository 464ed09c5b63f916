"""Restore drill: restore a dump into a scratch database, query it, always drop it.

The drill is the only opsverify probe that writes, and it writes to nothing but its own
scratch database, named ``opsverify_restore_<epoch>_<random>_<worker>`` and marked with a
comment, created on the declared server with the inventory's ``restore_dsn`` (a role with
CREATEDB). Guarantees:

- the scratch database is dropped in a ``finally`` (exceptions, pytest-timeout, Ctrl-C, and
  SIGTERM, which is turned into an exception for the duration of the drill);
- a drill killed harder than that (SIGKILL, power loss) leaves a marked database that the
  next drill on the same server drops once it is older than :data:`STALE_AFTER_S`;
- only databases this code created (its own name, or the prefix *and* the marker comment)
  are ever dropped; if the generated name already exists the drill refuses to run.

Plain dumps go through ``psql -v ON_ERROR_STOP=1`` (``gzip -dc`` piped in for ``.sql.gz``),
custom dumps through ``pg_restore -j N --exit-on-error --no-owner --no-privileges`` reading
the file (parallel restore needs a seekable file). ``--no-owner --no-privileges``: the drill
proves the data comes back; the original owners need not exist on the drill role's side.
The password travels in ``PGPASSWORD``, never in a command line (visible in ``ps``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from opsverify.errors import ProbeError
from opsverify.probes import postgres as pg_probe
from opsverify.probes.backups import find_pg_tool
from opsverify.redact import redact_text

PREFIX = "opsverify_restore_"
MARKER = "opsverify restore drill scratch database; safe to drop"
STALE_AFTER_S = 3600
_NAME_RE = re.compile(rf"^{PREFIX}(?P<epoch>\d{{10}})_[0-9a-f]{{6}}_[a-z0-9]{{1,12}}$")
_STDERR_CAP = 64 * 1024


def scratch_name(worker: str | None = None, now: float | None = None) -> str:
    """A fresh scratch name, unique per run and xdist worker.

    >>> bool(_NAME_RE.match(scratch_name("gw0", 1700000000)))
    True
    """
    w = re.sub(r"[^a-z0-9]", "", (worker or os.environ.get("PYTEST_XDIST_WORKER") or "main")
               .lower())[:12] or "main"
    return f"{PREFIX}{int(now if now is not None else time.time())}_{secrets.token_hex(3)}_{w}"


@dataclass
class RestoreObservation:
    """Everything a drill saw; evidence for auditors and for the on-call engineer."""

    file: str
    format: str
    server: str
    scratch_db: str
    jobs: int
    created: bool = False
    dropped: bool = False
    drop_error: str | None = None
    restored: bool = False
    error: str | None = None
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    restore_s: float | None = None
    total_s: float | None = None
    tables: list[dict[str, Any]] = field(default_factory=list)
    row_counts: dict[str, int | None] = field(default_factory=dict)
    min_rows: dict[str, int] = field(default_factory=dict)
    stale_dropped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _conn_parts(dsn: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"invalid DSN: {pg_probe.describe(exc)}") from None


def client_env_and_conninfo(dsn: str, dbname: str) -> tuple[dict[str, str], str]:
    """(environment, conninfo) for psql/pg_restore: the password moves to PGPASSWORD."""
    parts = _conn_parts(dsn)
    password = parts.pop("password", None)
    parts["dbname"] = dbname
    parts.setdefault("application_name", "opsverify-restore")
    env = {**os.environ}
    if password:
        env["PGPASSWORD"] = str(password)
    return env, make_conninfo(**{k: str(v) for k, v in parts.items()})


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    """While the drill runs, SIGTERM raises (so ``finally`` drops the scratch database)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM during restore drill")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _hint(stderr: str) -> str:
    if "must be member of role" in stderr or "must be owner of" in stderr:
        return (" (the dump sets object owners the drill role cannot take: dump with "
                "--no-owner --no-privileges, or restore as a member of those roles)")
    if "permission denied to create extension" in stderr or "must be superuser" in stderr:
        return (" (the dump needs superuser rights, e.g. CREATE EXTENSION: the real restore "
                "must run as superuser, or dump without the extension)")
    return ""


class _Procs:
    """Child processes of a drill, killed in ``finally`` when still alive."""

    def __init__(self) -> None:
        self.items: list[subprocess.Popen[bytes]] = []

    def add(self, p: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.items.append(p)
        return p

    def kill_all(self) -> None:
        for p in self.items:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.kill()
        for p in self.items:
            with contextlib.suppress(Exception):
                p.wait(timeout=5)


def _read_capped(stream: Any, out: list[bytes]) -> None:
    size = 0
    for chunk in iter(lambda: stream.read(8192), b""):
        if size < _STDERR_CAP:
            out.append(chunk)
            size += len(chunk)


def _run_restore(obs: RestoreObservation, path: str, fmt: str, dsn: str, jobs: int,
                 deadline_s: float, target: str, procs: _Procs) -> None:
    env, conninfo = client_env_and_conninfo(dsn, obs.scratch_db)
    psql = find_pg_tool("psql")
    pg_restore = find_pg_tool("pg_restore")
    errs: dict[str, list[bytes]] = {}
    readers: list[threading.Thread] = []

    def watch(name: str, p: subprocess.Popen[bytes]) -> None:
        errs[name] = []
        t = threading.Thread(target=_read_capped, args=(p.stderr, errs[name]), daemon=True)
        t.start()
        readers.append(t)

    chain: list[tuple[str, subprocess.Popen[bytes]]] = []
    if fmt == "pg_custom":
        if pg_restore is None:
            raise ProbeError(target, "pg_restore not found: install postgresql-client")
        p = procs.add(subprocess.Popen(
            [pg_restore, "--exit-on-error", "--no-owner", "--no-privileges", "-j", str(jobs),
             "-d", conninfo, path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env))
        chain.append(("pg_restore", p))
    else:
        if psql is None:
            raise ProbeError(target, "psql not found: install postgresql-client")
        argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
        if fmt == "pg_plain_gz":
            gz = procs.add(subprocess.Popen(["gzip", "-dc", path], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            p = procs.add(subprocess.Popen(argv, stdin=gz.stdout, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, env=env))
            assert gz.stdout is not None
            gz.stdout.close()  # psql holds the pipe; gzip gets SIGPIPE if psql stops early
            chain += [("gzip", gz), ("psql", p)]
        else:
            p = procs.add(subprocess.Popen([*argv, "-f", path], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                           env=env))
            chain.append(("psql", p))
    for name, proc in chain:
        watch(name, proc)
    t0 = time.monotonic()
    timed_out = False
    for _name, proc in reversed(chain):
        left = deadline_s - (time.monotonic() - t0)
        try:
            proc.wait(timeout=max(0.1, left))
        except subprocess.TimeoutExpired:
            timed_out = True
            procs.kill_all()
            break
    obs.restore_s = round(time.monotonic() - t0, 3)
    for t in readers:
        t.join(timeout=5)
    obs.exit_codes = {name: proc.returncode for name, proc in chain}
    stderr = {name: b"".join(errs.get(name, [])).decode("utf-8", "replace") for name, _ in chain}
    if timed_out:
        obs.error = (f"restore did not finish within {deadline_s / 60:.1f} min (RTO) and was "
                     "stopped")
        return
    failed = [(n, c) for n, c in obs.exit_codes.items() if c not in (0, None)]
    # gzip killed by SIGPIPE after psql stopped is a consequence, not the cause: show psql.
    failed.sort(key=lambda nc: nc[0] == "gzip" and nc[1] == -signal.SIGPIPE)
    if failed:
        name, code = failed[0]
        lines = [ln for ln in stderr[name].strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if "ERROR" in ln or "error" in ln] or lines
        detail = " | ".join(errors[:3])[:600] or "no output"
        obs.error = redact_text(f"{name} exited {code}: {detail}{_hint(stderr[name])}")
        return
    obs.restored = True


def _drop(conn: psycopg.Connection[Any], name: str, attempts: int = 5) -> str | None:
    """Drop a scratch database; return None, or the last error after ``attempts`` rounds.

    A plain DROP first: PostgreSQL itself stops autovacuum workers in the database (which a
    non-superuser's ``WITH (FORCE)`` may not terminate: they run as no role); then FORCE,
    which ends our own leftover sessions (a killed psql whose backend lingers).
    """
    last: str | None = None
    for attempt in range(attempts):
        for force in (False, True):
            stmt = sql.SQL("DROP DATABASE IF EXISTS {}" + (" WITH (FORCE)" if force else ""))
            try:
                with conn.cursor() as cur:
                    cur.execute(stmt.format(sql.Identifier(name)))
                return None
            except psycopg.Error as exc:
                last = pg_probe.describe(exc)
        if attempt + 1 < attempts:
            time.sleep(1)
    return last


def _drop_stale(conn: psycopg.Connection[Any], obs: RestoreObservation, target: str) -> None:
    """Drop scratch databases an earlier, killed drill left behind (marked, > 1 h old)."""
    rows = pg_probe.query(
        conn,
        "SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment "
        "FROM pg_database d WHERE d.datname LIKE %s",
        (PREFIX.replace("_", r"\_") + "%",),
        target=target,
    )
    now = time.time()
    for r in rows:
        m = _NAME_RE.match(r["datname"])
        if not m or r["comment"] != MARKER or now - int(m.group("epoch")) < STALE_AFTER_S:
            continue
        if _drop(conn, r["datname"], attempts=1) is None:
            obs.stale_dropped.append(r["datname"])
        # else: owned by another role, whose own drills will clean it


def _table_name(name: str) -> sql.Composable:
    parts = name.split(".", 1)
    return sql.SQL(".").join(sql.Identifier(p) for p in parts)


def _sanity(obs: RestoreObservation, dsn: str, min_rows: dict[str, int], timeout_s: float,
            target: str) -> None:
    conn = pg_probe.connect(dsn, target=target, timeout_s=timeout_s, dbname=obs.scratch_db,
                            statement_timeout_s=max(timeout_s, 300))
    try:
        rows = pg_probe.query(
            conn,
            "SELECT n.nspname AS schema, c.relname AS table, "
            "pg_total_relation_size(c.oid) AS size_bytes FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
            "'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' ORDER BY 1, 2",
            target=target,
        )
        obs.tables = [{"table": f"{r['schema']}.{r['table']}", "size_bytes": r["size_bytes"]}
                      for r in rows[:500]]
        present = {r["table"] for r in rows} | {f"{r['schema']}.{r['table']}" for r in rows}
        for table in min_rows:
            if table not in present:
                obs.row_counts[table] = None
                continue
            got = pg_probe.query(conn, sql.SQL("SELECT count(*) AS n FROM {}").format(
                _table_name(table)), target=target)
            obs.row_counts[table] = int(got[0]["n"])
    finally:
        conn.close()


def drill(path: str, fmt: str, dsn: str, *, target: str, server: str, min_rows: dict[str, int],
          jobs: int, rto_s: float, timeout_s: float, worker: str | None = None
          ) -> RestoreObservation:
    """Restore ``path`` into a fresh scratch database on the server of ``dsn`` and query it.

    Raises ProbeError when the drill cannot run at all (no connection, no CREATEDB, name
    collision); a dump that does not restore is an observation (``error``), not an exception.
    """
    t_all = time.monotonic()
    obs = RestoreObservation(file=path, format=fmt, server=server,
                             scratch_db=scratch_name(worker), jobs=jobs,
                             min_rows=dict(min_rows))
    # CREATE/DROP DATABASE of a large scratch database may take minutes on slow storage.
    conn = pg_probe.connect(dsn, target=target, timeout_s=timeout_s, readonly=False,
                            statement_timeout_s=max(timeout_s, 600))
    procs = _Procs()
    try:
        who = pg_probe.query(conn, "SELECT current_user AS role, r.rolcreatedb, r.rolsuper "
                                   "FROM pg_roles r WHERE r.rolname = current_user",
                             target=target)
        if not who or not (who[0]["rolcreatedb"] or who[0]["rolsuper"]):
            role = who[0]["role"] if who else "?"
            raise ProbeError(target, f"role {role} lacks CREATEDB: the restore drill creates "
                                     "a scratch database; give restore_dsn a role with CREATEDB "
                                     f"(ALTER ROLE {role} CREATEDB) on postgres item {server}")
        _drop_stale(conn, obs, target)
        exists = pg_probe.query(conn, "SELECT 1 FROM pg_database WHERE datname = %s",
                                (obs.scratch_db,), target=target)
        if exists:
            raise ProbeError(target, f"scratch database name {obs.scratch_db} already exists on "
                                     f"{server}: refusing to restore into (and drop) a "
                                     "database this drill did not create")
        with _sigterm_as_exception():
            try:
                try:
                    with conn.cursor() as cur:
                        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                            sql.Identifier(obs.scratch_db)))
                        obs.created = True
                        cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                            sql.Identifier(obs.scratch_db), sql.Literal(MARKER)))
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise ProbeError(target, f"cannot create the scratch database: "
                                             f"{pg_probe.describe(exc)} (the drill role needs "
                                             "CREATEDB)") from None
                except psycopg.Error as exc:
                    raise ProbeError(target, f"cannot create the scratch database: "
                                             f"{pg_probe.describe(exc)}") from None
                _run_restore(obs, path, fmt, dsn, jobs, rto_s, target, procs)
                if obs.restored:
                    _sanity(obs, dsn, min_rows, timeout_s, target)
            finally:
                # Whatever happened above (including the COMMENT failing right after the
                # CREATE, a timeout or Ctrl-C): the scratch database goes.
                procs.kill_all()
                if obs.created:
                    obs.drop_error = _drop(conn, obs.scratch_db)
                    obs.dropped = obs.drop_error is None
    finally:
        procs.kill_all()
        conn.close()
    obs.total_s = round(time.monotonic() - t_all, 3)
    if obs.created and not obs.dropped:
        raise ProbeError(target, f"scratch database {obs.scratch_db} could not be dropped "
                                 f"({obs.drop_error}); drop it by hand")
    return obs
