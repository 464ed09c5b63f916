"""PostgreSQL 15 for the sandbox: a throwaway cluster run as the ``postgres`` user.

initdb/pg_ctl/postgres refuse to run as root, so everything runs through ``runuser``; the data
directory lives under the state directory (owned by postgres, mode 700). The cluster listens on
127.0.0.1 with TLS from the sandbox CA, loads pg_stat_statements, and holds an application
database shaped like the reference systems (users, studies, alembic_version) with three roles:
``app`` (owner, not superuser), ``monitor`` (pg_monitor: the inventory's dsn) and ``restore``
(CREATEDB: the inventory's restore_dsn).

Knobs for fault modules: :func:`psql`, :func:`alter_system`, :func:`restart`,
:func:`superuser_dsn`, :func:`dsn`, :func:`info`.
"""

from __future__ import annotations

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


def restart(sb: Sandbox) -> None:
    """Stop (fast) and start the server; needed after ALTER SYSTEM of a restart-only setting."""
    _stop(sb)
    _start(sb)


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
        for d in (base, sock):
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
"""
        with open(data / "postgresql.conf", "a") as fh:
            fh.write(conf)
        (data / "pg_hba.conf").write_text(
            "# opsverify sandbox: peer for the superuser on the socket, scram over TLS only\n"
            "local   all  postgres                  peer\n"
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
