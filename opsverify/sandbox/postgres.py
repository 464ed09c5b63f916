"""PostgreSQL 15 for the sandbox: a throwaway cluster run as the ``postgres`` user.

initdb/pg_ctl/postgres refuse to run as root, so everything runs through ``runuser``; the data
directory lives under the state directory (owned by postgres, mode 700). The cluster listens on
127.0.0.1 with TLS from the sandbox CA, loads pg_stat_statements, and holds an application
database shaped like the reference systems (users, studies, alembic_version) with three roles:
``app`` (owner, not superuser), ``monitor`` (pg_monitor: the inventory's dsn) and ``restore``
(CREATEDB: the inventory's restore_dsn).

Knobs for fault modules: :func:`psql`, :func:`alter_system`, :func:`restart`, :func:`stop`,
:func:`start`, :func:`superuser_dsn`, :func:`dsn`, :func:`info`; for the streaming standby
(:class:`StandbyComponent`): :func:`standby_psql`, :func:`stop_standby`,
:func:`start_standby`, :func:`rebuild_standby`, :func:`wait_streaming`.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from . import pki
from .base import Component, Sandbox, SandboxError, require_binary, run, wait_gone, wait_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
APP_DB = "app"
ROLE_VARS = {
    "postgres": "SANDBOX_PG_SUPERUSER_PASSWORD",
    "app": "SANDBOX_PG_APP_PASSWORD",
    "monitor": "SANDBOX_PG_MONITOR_PASSWORD",
    "restore": "SANDBOX_PG_RESTORE_PASSWORD",
}
ALEMBIC_HEAD = "3f2a9c1d7b10"


def info(sb: Sandbox) -> dict[str, Any]:
    """Connection facts published for other components (backups run pg_dump with them)."""
    data: dict[str, Any] = sb.state.get("postgres", {})
    if not data:
        raise SandboxError("postgres is not running in this sandbox")
    return data


def _base(sb: Sandbox) -> Path:
    return sb.path("postgres")


def _chown(path: Path, user: str = "postgres") -> None:
    shutil.chown(path, user=user, group=user)


def dsn(sb: Sandbox, role: str = "monitor", db: str = APP_DB) -> str:
    """A libpq URL over TCP+TLS (verify-full against the sandbox CA) for one of the roles."""
    pg = info(sb)
    password = sb.state["env"][ROLE_VARS[role]]
    return (
        f"postgresql://{role}:{password}@127.0.0.1:{pg['port']}/{db}"
        f"?sslmode=verify-full&sslrootcert={pki.ca_path(sb)}&connect_timeout=5"
    )


def superuser_dsn(sb: Sandbox, db: str = APP_DB) -> str:
    """DSN of the ``postgres`` superuser over TCP (for faults that hold sessions open)."""
    return dsn(sb, SUPERUSER, db)


def psql(sb: Sandbox, sql: str, db: str = APP_DB, *, timeout: float = 30.0) -> str:
    """Run SQL as the superuser through the unix socket (peer auth); return unaligned output.

    The SQL goes through stdin (``-f -``) so passwords never show up in a process list.
    >>> psql(sb, "SELECT count(*) FROM users")                      # doctest: +SKIP
    '200'
    """
    pg = info(sb)
    proc = run(
        [
            "runuser", "-u", "postgres", "--",
            f"{pg['bin_dir']}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
            "-h", pg["socket_dir"], "-p", str(pg["port"]), "-U", SUPERUSER, "-d", db, "-f", "-",
        ],
        input=sql,
        timeout=timeout,
        cwd=pg["socket_dir"],
    )  # fmt: skip
    return proc.stdout.strip()


def alter_system(
    sb: Sandbox, key: str, value: str | int | None, *, restart_server: bool = False
) -> None:
    """``ALTER SYSTEM SET key = value`` (``None`` resets it), then reload or restart.

    Settings such as ``max_connections`` or ``shared_preload_libraries`` need
    ``restart_server=True``; most others take effect on reload.
    """
    if value is None:
        psql(sb, f"ALTER SYSTEM RESET {key}")
    else:
        literal = str(value).replace("'", "''")
        psql(sb, f"ALTER SYSTEM SET {key} = '{literal}'")
    if restart_server:
        restart(sb)
    else:
        psql(sb, "SELECT pg_reload_conf()")


def _postmaster_pid(sb: Sandbox) -> int | None:
    pidfile = _base(sb) / "data" / "postmaster.pid"
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _start(sb: Sandbox) -> None:
    pg = info(sb)
    sb.spawn(
        "postgres",
        [f"{pg['bin_dir']}/postgres", "-D", pg["data_dir"]],
        user="postgres",
        cwd=Path(pg["data_dir"]),
    )
    deadline = time.monotonic() + 20
    wait_port(int(pg["port"]), timeout=20)
    while True:  # the port opens before the server accepts connections: ask it
        proc = run(
            [f"{pg['bin_dir']}/pg_isready", "-q", "-h", pg["socket_dir"], "-p", str(pg["port"])],
            timeout=5,
            check=False,
        )
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SandboxError("postgres did not become ready in 20s (see logs/postgres.log)")
        time.sleep(0.05)


def _stop(sb: Sandbox, timeout: float = 5.0) -> None:
    """Fast shutdown (SIGINT to the postmaster): a smart shutdown would wait for clients."""
    pid = _postmaster_pid(sb)
    if pid is not None and psutil.pid_exists(pid):
        try:
            proc = psutil.Process(pid)
            if "postgres" in proc.name():
                proc.send_signal(signal.SIGINT)
                if wait_gone([pid], timeout):
                    proc.kill()
        except psutil.NoSuchProcess:
            pass
    sb.stop_processes("postgres", timeout=2)


def stop(sb: Sandbox) -> None:
    """Fast, clean shutdown of the primary (what pg_resetwal and pg_controldata need)."""
    _stop(sb)


def start(sb: Sandbox) -> None:
    """Start the primary again and wait until it accepts connections."""
    _start(sb)


def running(sb: Sandbox) -> bool:
    pid = _postmaster_pid(sb)
    return pid is not None and psutil.pid_exists(pid)


def restart(sb: Sandbox) -> None:
    """Stop (fast) and start the server; needed after ALTER SYSTEM of a restart-only setting.

    The standby, when running, reconnects on its own; waiting for it keeps a restart from
    reading as a replication fault in the checks that run next.
    """
    _stop(sb)
    _start(sb)
    if standby_running(sb):
        wait_streaming(sb)


_BOOTSTRAP = """
CREATE ROLE app LOGIN PASSWORD :'app_pw';
CREATE ROLE monitor LOGIN PASSWORD :'monitor_pw';
GRANT pg_monitor TO monitor;
CREATE ROLE restore LOGIN CREATEDB PASSWORD :'restore_pw';
CREATE DATABASE app OWNER app;
\\c app
CREATE EXTENSION pg_stat_statements;
-- least privilege for the hba audit (security checks): the rules, not the passwords
GRANT SELECT ON pg_catalog.pg_hba_file_rules TO monitor;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules() TO monitor;
SET ROLE app;
CREATE TABLE users (
    id serial PRIMARY KEY,
    username text NOT NULL UNIQUE,
    email text NOT NULL,
    password_hash text NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (username, email, password_hash, created_at)
SELECT 'user' || g, 'user' || g || '@sandbox.test', md5(random()::text),
       now() - (g || ' hours')::interval
FROM generate_series(1, 200) AS g;
CREATE TABLE studies (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    study_uid text NOT NULL UNIQUE,
    modality text NOT NULL,
    description text,
    size_bytes bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO studies (user_id, study_uid, modality, description, size_bytes, created_at)
SELECT 1 + (g % 200), '1.2.826.0.1.3680043.10.' || g,
       (ARRAY['CT', 'MR', 'US', 'CR', 'DX'])[1 + g % 5], 'study ' || g,
       (1000000 + g * 7919)::bigint, now() - (g || ' minutes')::interval
FROM generate_series(1, 5000) AS g;
CREATE INDEX studies_user_id_idx ON studies (user_id);
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES (:'alembic');
GRANT SELECT ON ALL TABLES IN SCHEMA public TO monitor;
RESET ROLE;
ANALYZE;
"""


def _literal(value: str) -> str:
    """A psql ``\\set`` value: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _check_traversable(path: Path, user: str) -> None:
    """The service user must be able to reach its directory: say so early, not in a log."""
    proc = run(["runuser", "-u", user, "--", "test", "-x", str(path)], timeout=5, check=False)
    if proc.returncode != 0:
        raise SandboxError(
            f"user {user} cannot reach {path}: use a state directory whose parents are "
            "world-traversable (e.g. under /tmp, not under /root or pytest's 0700 tmp dirs)"
        )


class PostgresComponent(Component):
    """PostgreSQL 15 on 127.0.0.1 with TLS, pg_stat_statements and the application database."""

    name = "postgres"

    def up(self, sb: Sandbox) -> None:
        require_binary(str(PG_BIN / "postgres"), "postgresql-15")
        require_binary("runuser", "util-linux")
        base = _base(sb)
        data, sock = base / "data", base / "run"
        for d in (base, sock, base / "wal_archive"):
            d.mkdir(parents=True, exist_ok=True)
            _chown(d)
        base.chmod(0o755)
        _check_traversable(sock, "postgres")
        port = sb.port("postgres")
        passwords = {role: sb.secret(var) for role, var in ROLE_VARS.items()}

        pwfile = base / "pwfile"
        pwfile.write_text(passwords[SUPERUSER] + "\n")
        pwfile.chmod(0o600)
        _chown(pwfile)
        try:
            run(
                [
                    "runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"),
                    "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}", "-E", "UTF8",
                    "--locale=C", "--auth-local=peer", "--auth-host=scram-sha-256", "--no-sync",
                ],
                timeout=60,
                cwd=base,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

        cert = pki.server_cert(sb)
        for src, dst in ((cert.chain, "server.crt"), (cert.key, "server.key"), (cert.ca, "ca.crt")):
            shutil.copyfile(src, data / dst)
            (data / dst).chmod(0o600)
            _chown(data / dst)
        conf = f"""
# opsverify sandbox
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sock}'
max_connections = 50
shared_buffers = 32MB
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.crt'
ssl_min_protocol_version = 'TLSv1.2'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
# WAL archiving into the state dir (point-in-time recovery; checked by BKP-011)
archive_mode = on
archive_command = 'test ! -f {base / "wal_archive"}/%f && cp %p {base / "wal_archive"}/%f'
archive_timeout = '5min'
# a streaming standby (StandbyComponent) and, for pg_xid_wraparound_near, a logical slot
wal_level = logical
max_wal_senders = 5
max_replication_slots = 5
wal_keep_size = '128MB'
# prepared transactions exist (DB-008's probe names a forgotten one as the culprit)
max_prepared_transactions = 5
"""
        with open(data / "postgresql.conf", "a") as fh:
            fh.write(conf)
        (data / "pg_hba.conf").write_text(
            "# opsverify sandbox: peer for the superuser on the socket, scram over TLS only\n"
            "local   all  postgres                  peer\n"
            "local   replication  postgres          peer\n"
            "local   all  all                       scram-sha-256\n"
            "hostssl all  all       127.0.0.1/32    scram-sha-256\n"
            "hostssl all  all       ::1/128         scram-sha-256\n"
        )

        sb.state["postgres"] = {
            "host": "127.0.0.1",
            "port": port,
            "socket_dir": str(sock),
            "bin_dir": str(PG_BIN),
            "data_dir": str(data),
            "superuser": SUPERUSER,
            "superuser_password_var": ROLE_VARS[SUPERUSER],
            "db": APP_DB,
            "roles": {role: var for role, var in ROLE_VARS.items() if role != SUPERUSER},
            "ca_file": str(cert.ca),
        }
        sb.save()
        _start(sb)

        pg = sb.state["postgres"]
        run(
            [
                "runuser", "-u", "postgres", "--", f"{PG_BIN}/psql", "-X", "-q",
                "-v", "ON_ERROR_STOP=1", "-h", pg["socket_dir"], "-p", str(port),
                "-U", SUPERUSER, "-d", "postgres", "-f", "-",
            ],
            # psql variables would put the passwords in argv (visible in ps): set them on stdin
            input="".join(
                f"\\set {k} {_literal(v)}\n"
                for k, v in (
                    ("app_pw", passwords["app"]),
                    ("monitor_pw", passwords["monitor"]),
                    ("restore_pw", passwords["restore"]),
                    ("alembic", ALEMBIC_HEAD),
                )
            )
            + _BOOTSTRAP,
            timeout=60,
            cwd=sock,
        )  # fmt: skip

        sb.secret("SANDBOX_PG_DSN", dsn(sb, "monitor"))
        sb.secret("SANDBOX_PG_RESTORE_DSN", dsn(sb, "restore"))
        sb.inventory_add(
            "postgres",
            {
                "name": "main",
                "dsn": "${SANDBOX_PG_DSN}",
                "restore_dsn": "${SANDBOX_PG_RESTORE_DSN}",
                "superusers": [SUPERUSER],
                "require_ssl": True,
                "wal_archive": True,
                "migrations": {"expect": ALEMBIC_HEAD},
            },
        )
        sb.inventory_add(
            "tls",
            {
                "name": "database-tls",
                "host": "127.0.0.1",
                "port": port,
                "starttls": "postgres",
                "ca_file": str(cert.ca),
            },
        )
        sb.inventory_update(
            "security",
            {
                "default_credentials": [
                    {"postgres": "main", "user": "postgres", "password": "postgres"}
                ]
            },
        )

    def down(self, sb: Sandbox) -> None:
        _stop(sb)


# --- streaming standby --------------------------------------------------------------------------
STANDBY_NAME = "standby1"  # its application_name, as the primary's pg_stat_replication shows it
STANDBY_OWNER = "postgres-standby"


def standby_info(sb: Sandbox) -> dict[str, Any]:
    """Facts about the standby (data dir, socket, port), or SandboxError if there is none."""
    data: dict[str, Any] = sb.state.get("postgres_standby", {})
    if not data:
        raise SandboxError("no standby runs in this sandbox (component postgres-standby)")
    return data


def _pidfile_pid(data_dir: str | Path) -> int | None:
    try:
        return int((Path(data_dir) / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def standby_running(sb: Sandbox) -> bool:
    st = sb.state.get("postgres_standby")
    pid = _pidfile_pid(st["data_dir"]) if st else None
    return pid is not None and psutil.pid_exists(pid)


def standby_psql(sb: Sandbox, sql: str, *, timeout: float = 30.0) -> str:
    """Run SQL on the standby as the superuser through its own socket (peer auth)."""
    st, pg = standby_info(sb), info(sb)
    proc = run(
        [
            "runuser", "-u", "postgres", "--", f"{pg['bin_dir']}/psql", "-X", "-q", "-At",
            "-v", "ON_ERROR_STOP=1", "-h", st["socket_dir"], "-p", str(st["port"]),
            "-U", SUPERUSER, "-d", "postgres", "-f", "-",
        ],
        input=sql, timeout=timeout, cwd=st["socket_dir"],
    )  # fmt: skip
    return proc.stdout.strip()


def streaming(sb: Sandbox) -> bool:
    """Whether the primary shows the standby connected and streaming."""
    return psql(sb, "SELECT count(*) FROM pg_stat_replication WHERE application_name = "
                    f"'{STANDBY_NAME}' AND state = 'streaming'", db="postgres") == "1"


def wait_streaming(sb: Sandbox, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not streaming(sb):
        if time.monotonic() > deadline:
            raise SandboxError(f"the standby is not streaming from the primary after "
                               f"{timeout:.0f}s (see logs/{STANDBY_OWNER}.log)")
        time.sleep(0.1)


def start_standby(sb: Sandbox, *, wait: bool = True) -> None:
    """Start the standby on its unix socket only (no TCP listener), then wait for streaming.

    ``wal_receiver_status_interval=1s``: the standby reports its replay position every second
    instead of every 10 s, so the primary's replay_lag of a healthy standby stays near zero.
    """
    st, pg = standby_info(sb), info(sb)
    sb.spawn(
        STANDBY_OWNER,
        [
            f"{pg['bin_dir']}/postgres", "-D", st["data_dir"], "-c", f"port={st['port']}",
            "-c", "listen_addresses=", "-c", f"unix_socket_directories={st['socket_dir']}",
            "-c", f"cluster_name={STANDBY_NAME}", "-c", "wal_receiver_status_interval=1s",
            "-c", "wal_retrieve_retry_interval=500ms",
        ],
        user="postgres",
        cwd=Path(st["data_dir"]),
    )  # fmt: skip
    if wait:
        wait_streaming(sb)


def stop_standby(sb: Sandbox, timeout: float = 5.0) -> None:
    """Fast shutdown of the standby (SIGINT to its postmaster)."""
    st = sb.state.get("postgres_standby")
    pid = _pidfile_pid(st["data_dir"]) if st else None
    if pid is not None and psutil.pid_exists(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            if "postgres" in proc.name():
                proc.send_signal(signal.SIGINT)
                if wait_gone([pid], timeout):
                    proc.kill()
    sb.stop_processes(STANDBY_OWNER, timeout=2)


def rebuild_standby(sb: Sandbox, *, wait: bool = True) -> None:
    """Make the standby anew from the primary (pg_basebackup -R) and start it.

    Needed after anything that rewrites the primary's WAL history (pg_resetwal): a standby
    cannot follow across it.
    """
    st, pg = standby_info(sb), info(sb)
    stop_standby(sb)
    data = Path(st["data_dir"])
    if data.exists():
        shutil.rmtree(data)
    conninfo = (f"host={pg['socket_dir']} port={pg['port']} user={SUPERUSER} "
                f"application_name={STANDBY_NAME}")
    run(
        [
            "runuser", "-u", "postgres", "--", f"{pg['bin_dir']}/pg_basebackup",
            "-D", str(data), "-d", conninfo, "-R", "-X", "stream", "--checkpoint=fast",
            "--no-sync",
        ],
        timeout=120, cwd=st["socket_dir"],
    )  # fmt: skip
    start_standby(sb, wait=wait)


class StandbyComponent(Component):
    """A streaming hot standby of the primary: pg_basebackup -R, its own socket, no TCP port.

    It exists so the replication check (DB-010) has a real replica to judge; the primary's
    inventory item declares it (``replicas: [standby1]``). Left out with the primary (``--skip
    postgres``) or on its own (``--skip postgres-standby``).
    """

    name = STANDBY_OWNER

    def up(self, sb: Sandbox) -> None:
        if not sb.state.get("postgres"):
            return  # the primary was left out: nothing to replicate
        base = _base(sb)
        sock = base / "standby-run"
        sock.mkdir(parents=True, exist_ok=True)
        _chown(sock)
        sb.state["postgres_standby"] = {
            "name": STANDBY_NAME,
            "port": sb.port(STANDBY_OWNER),  # names the socket file only: no TCP listener
            "socket_dir": str(sock),
            "data_dir": str(base / "standby"),
        }
        sb.save()
        rebuild_standby(sb, wait=False)
        items = sb.state.get("inventory", {}).get("postgres", [])
        for item in items:
            if item.get("name") == "main":
                sb.inventory_add("postgres", {**item, "replicas": [STANDBY_NAME]})

    def ready(self, sb: Sandbox) -> None:
        if sb.state.get("postgres_standby"):
            wait_streaming(sb)

    def down(self, sb: Sandbox) -> None:
        stop_standby(sb)
