"""Security faults: real misconfigurations of the sandbox's PostgreSQL, Redis, nginx, backend
logins and containers.

Each one is what an operator actually does wrong (a role made superuser "for the migration",
``password_encryption = md5`` for an old client, ``server_tokens on`` from a copied config,
``admin:admin`` left in an htpasswd, Grafana's admin/admin never changed, a container
recreated without its limits...). Reverts are idempotent: they restore the healthy value
whatever the current state. The root/socket and privileged container faults, the env-file and
failed-login faults live in their components (dockerengine, host) and are reused, not
duplicated.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

from .. import backend, dockerengine, nginx, postgres, rediscache
from ..base import Fault, Sandbox, SandboxError

LEGACY_ROLE = "legacy_reports"
TRUST_LINE = "host    all  all       192.168.0.0/16  trust   # opsverify fault pg_trust_hba"
#: Requests an attacker's scanner sends: SQL injection, XSS, path traversal.
INJECTION_REQUESTS = (
    "/api/studies?id=1%20UNION%20SELECT%20password_hash%20FROM%20users",
    "/api/studies?id=1%27%20OR%20%271%27=%271",
    "/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
    "/static/../../../../etc/passwd",
    "/api/studies?sort=id%20UNION%20ALL%20SELECT%20NULL,version()--",
)


# --- PostgreSQL -----------------------------------------------------------------------------
def _inject_extra_superuser(sb: Sandbox) -> None:
    postgres.psql(sb, "ALTER ROLE app SUPERUSER")


def _revert_extra_superuser(sb: Sandbox) -> None:
    postgres.psql(sb, "ALTER ROLE app NOSUPERUSER")


def _inject_md5(sb: Sandbox) -> None:
    postgres.alter_system(sb, "password_encryption", "md5")
    pw = os.urandom(12).hex()
    postgres.psql(sb, f"SET password_encryption = 'md5';\n"
                      f"DROP ROLE IF EXISTS {LEGACY_ROLE};\n"
                      f"CREATE ROLE {LEGACY_ROLE} LOGIN PASSWORD '{pw}';")


def _revert_md5(sb: Sandbox) -> None:
    postgres.psql(sb, f"DROP ROLE IF EXISTS {LEGACY_ROLE}")
    postgres.alter_system(sb, "password_encryption", None)


def _hba(sb: Sandbox) -> Path:
    return Path(postgres.info(sb)["data_dir"]) / "pg_hba.conf"


def _inject_trust(sb: Sandbox) -> None:
    path = _hba(sb)
    text = path.read_text()
    if TRUST_LINE not in text:
        with path.open("a") as fh:  # appended in place: owner and mode stay postgres/0600
            fh.write(TRUST_LINE + "\n")
    postgres.psql(sb, "SELECT pg_reload_conf()")


def _revert_trust(sb: Sandbox) -> None:
    path = _hba(sb)
    lines = [ln for ln in path.read_text().splitlines() if ln != TRUST_LINE]
    with path.open("w") as fh:
        fh.write("\n".join(lines) + "\n")
    postgres.psql(sb, "SELECT pg_reload_conf()")


def _inject_default_password(sb: Sandbox) -> None:
    postgres.psql(sb, "ALTER ROLE postgres PASSWORD 'postgres'")


def _revert_default_password(sb: Sandbox) -> None:
    pw = sb.state["env"][postgres.ROLE_VARS["postgres"]].replace("'", "''")
    postgres.psql(sb, f"ALTER ROLE postgres PASSWORD '{pw}'")


def _inject_ssl_off(sb: Sandbox) -> None:
    postgres.alter_system(sb, "ssl", "off")


def _revert_ssl_off(sb: Sandbox) -> None:
    postgres.alter_system(sb, "ssl", None)


# --- Redis ------------------------------------------------------------------------------------
def _inject_redis_no_password(sb: Sandbox) -> None:
    rediscache.config_set(sb, "requirepass", "")


def _revert_redis_no_password(sb: Sandbox) -> None:
    password = sb.state["env"][rediscache.PASSWORD_VAR]
    try:  # no password set (fault in place): an AUTH would be refused
        rediscache.config_set(sb, "requirepass", password, auth=False)
    except SandboxError:  # already reverted: the password is required
        rediscache.config_set(sb, "requirepass", password)


def _inject_protected_mode_off(sb: Sandbox) -> None:
    rediscache.config_set(sb, "protected-mode", "no")


def _revert_protected_mode_off(sb: Sandbox) -> None:
    rediscache.config_set(sb, "protected-mode", "yes")


def _inject_flush_allowed(sb: Sandbox) -> None:
    rediscache.redis_cli(sb, "ACL", "SETUSER", "default", "+flushall", "+flushdb")


def _revert_flush_allowed(sb: Sandbox) -> None:
    rediscache.redis_cli(sb, "ACL", "SETUSER", "default", "-flushall", "-flushdb")


# --- nginx ------------------------------------------------------------------------------------
def _nginx_fault(**changes: object) -> tuple[Callable[[Sandbox], None], Callable[[Sandbox], None]]:
    def inject(sb: Sandbox) -> None:
        nginx.configure(sb, **changes)

    def revert(sb: Sandbox) -> None:
        nginx.reset(sb, *changes)

    return inject, revert


def _inject_default_login(sb: Sandbox) -> None:
    nginx.write_htpasswd(sb, nginx.ADMIN_USER, "admin")


def _revert_default_login(sb: Sandbox) -> None:
    nginx.write_htpasswd(sb, nginx.ADMIN_USER, sb.secret(nginx.ADMIN_PASSWORD_VAR))


def _offset_file(sb: Sandbox) -> Path:
    return sb.path("nginx", "injection_requests_in_log.offset")


def _inject_injection_requests(sb: Sandbox) -> None:
    """Real requests to the sandbox's own nginx (loopback), sent raw: an HTTP library would
    normalise ``../`` away, a scanner does not."""
    log = Path(sb.state["nginx"]["access_log"])
    mark = _offset_file(sb)
    if not mark.exists():
        mark.write_text(str(log.stat().st_size if log.exists() else 0))
    port = int(sb.state["nginx"]["http_port"])
    for path in INJECTION_REQUESTS:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sqlmap/1.7\r\n"
                      "Connection: close\r\n\r\n".encode())
            with contextlib.suppress(OSError):
                while s.recv(65536):
                    pass


def _revert_injection_requests(sb: Sandbox) -> None:
    """Cut the access log back to where it ended before the requests."""
    mark = _offset_file(sb)
    if mark.exists():
        os.truncate(sb.state["nginx"]["access_log"], int(mark.read_text()))
        mark.unlink()


def _inject_vulnerable_report(sb: Sandbox) -> None:
    nginx.write_vuln_report(sb, vulnerable=True)


def _revert_vulnerable_report(sb: Sandbox) -> None:
    nginx.write_vuln_report(sb, vulnerable=False)


# --- containers -------------------------------------------------------------------------------
#: A "network debugging" container someone created with extra capabilities and never started.
NETDEBUG_SERVICE = "netdebug"


def _inject_no_memory_limit(sb: Sandbox) -> None:
    """The worker recreated from a compose file that lost its ``mem_limit``."""
    with dockerengine.engine(sb) as client:
        dockerengine.run_service(client, sb, "worker", mem_limit=None)
        dockerengine.wait_for(client, dockerengine.container_name("worker", sb),
                              dockerengine.is_healthy, "healthy")


def _inject_writable_rootfs(sb: Sandbox) -> None:
    """The worker recreated without ``read_only: true`` (tmpfs and everything else unchanged)."""
    with dockerengine.engine(sb) as client:
        dockerengine.run_service(client, sb, "worker", read_only=False)
        dockerengine.wait_for(client, dockerengine.container_name("worker", sb),
                              dockerengine.is_healthy, "healthy")


def _restore_worker(sb: Sandbox) -> None:
    dockerengine.restore_service(sb, "worker")


def _inject_dangerous_caps(sb: Sandbox) -> None:
    """Created, not started (like the privileged debug container): otherwise a healthy
    container (non-root, memory limit, read-only), so only its capabilities are wrong."""
    name = dockerengine.container_name(NETDEBUG_SERVICE, sb)
    with dockerengine.engine(sb) as client:
        dockerengine._remove(client, name)
        client.containers.create(
            dockerengine.IMAGE, command=["sleep", "3600"], name=name,
            labels=dockerengine._labels(NETDEBUG_SERVICE, sb), network_mode="host",
            user=dockerengine.APP_USER, mem_limit=dockerengine.MEMORY_LIMIT, read_only=True,
            cap_add=["SYS_ADMIN", "NET_ADMIN"])


def _revert_dangerous_caps(sb: Sandbox) -> None:
    with dockerengine.engine(sb) as client:
        dockerengine._remove(client, dockerengine.container_name(NETDEBUG_SERVICE, sb))


# --- form and JSON logins (backend) -----------------------------------------------------------
def _login_fault(knob: str, user: str) -> tuple[Callable[[Sandbox], None],
                                                Callable[[Sandbox], None]]:
    def inject(sb: Sandbox) -> None:
        backend.set_control(sb, **{knob: {user: user}})

    def revert(sb: Sandbox) -> None:
        backend.set_control(sb, **{knob: None})

    return inject, revert


_grafana_inject, _grafana_revert = _login_fault("grafana_logins", "admin")
_form_inject, _form_revert = _login_fault("form_logins", "guest")

_header_inject, _header_revert = _nginx_fault(drop_headers=["X-Content-Type-Options"])
_csp_inject, _csp_revert = _nginx_fault(drop_headers=["Content-Security-Policy"])
_tokens_inject, _tokens_revert = _nginx_fault(server_tokens=True)
_dotenv_inject, _dotenv_revert = _nginx_fault(deny_dotfiles=False)
_index_inject, _index_revert = _nginx_fault(autoindex=True)

FAULTS: list[Fault] = [
    Fault("pg_extra_superuser", "security",
          "the application role 'app' is made SUPERUSER", _inject_extra_superuser,
          _revert_extra_superuser),
    Fault("pg_md5_password", "security",
          f"password_encryption = md5 and a role {LEGACY_ROLE} with an md5 password hash",
          _inject_md5, _revert_md5),
    Fault("pg_trust_hba", "security",
          "pg_hba.conf trusts 192.168.0.0/16 (no password) and is reloaded",
          _inject_trust, _revert_trust),
    Fault("pg_default_password", "security",
          "the postgres superuser's password is 'postgres'",
          _inject_default_password, _revert_default_password),
    Fault("pg_ssl_off", "security",
          "ssl = off (reloaded): TLS-only clients can no longer connect",
          _inject_ssl_off, _revert_ssl_off),
    Fault("redis_no_password", "security",
          "CONFIG SET requirepass '': Redis runs commands for anyone",
          _inject_redis_no_password, _revert_redis_no_password),
    Fault("redis_protected_mode_off", "security",
          "CONFIG SET protected-mode no", _inject_protected_mode_off,
          _revert_protected_mode_off),
    Fault("redis_flush_allowed", "security",
          "the Redis client user may run FLUSHALL and FLUSHDB again",
          _inject_flush_allowed, _revert_flush_allowed),
    Fault("header_removed", "security",
          "nginx no longer sends X-Content-Type-Options", _header_inject, _header_revert),
    Fault("csp_removed", "security",
          "nginx no longer sends Content-Security-Policy", _csp_inject, _csp_revert),
    Fault("server_version_disclosed", "security",
          "nginx server_tokens on: version in the Server header and on error pages",
          _tokens_inject, _tokens_revert),
    Fault("dotenv_served", "security",
          "nginx no longer denies dotfiles: /.env and /.git/config are served",
          _dotenv_inject, _dotenv_revert),
    Fault("directory_listing_on", "security",
          "nginx autoindex on for /uploads/", _index_inject, _index_revert),
    Fault("default_login_accepted", "security",
          "the /admin/ basic-auth file accepts admin/admin",
          _inject_default_login, _revert_default_login),
    Fault("injection_requests_in_log", "security",
          f"{len(INJECTION_REQUESTS)} SQL-injection/XSS/traversal requests hit nginx "
          "(access log)", _inject_injection_requests, _revert_injection_requests),
    Fault("container_no_memory_limit", "security",
          "the worker is recreated without a memory limit (mem_limit dropped)",
          _inject_no_memory_limit, _restore_worker),
    Fault("container_dangerous_caps", "security",
          f"a '{NETDEBUG_SERVICE}' container with cap_add SYS_ADMIN and NET_ADMIN exists in the "
          "project (created, not started)", _inject_dangerous_caps, _revert_dangerous_caps),
    Fault("container_writable_rootfs", "security",
          "the worker is recreated without a read-only root filesystem",
          _inject_writable_rootfs, _restore_worker),
    Fault("grafana_default_login", "security",
          "the Grafana-style JSON login (/grafana/login) accepts admin/admin",
          _grafana_inject, _grafana_revert),
    Fault("form_default_login", "security",
          "the HTML form login (/portal/login) accepts guest/guest", _form_inject, _form_revert),
    Fault("vulnerable_image_report", "security",
          "the frontend image's Trivy report lists a CRITICAL vulnerability",
          _inject_vulnerable_report, _revert_vulnerable_report),
]
