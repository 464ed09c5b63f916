"""The sandbox itself: every service answers as specified, the inventory follows the contract
without leaking secrets, the fault knobs really change what a client sees and revert cleanly,
and ``down`` (from another process, after ``up`` in another) leaves nothing running.

Run: ``.venv/bin/pytest tests/sandbox -p no:randomly``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import redis
import requests
import yaml
from cryptography import x509

from opsverify.sandbox import (
    Sandbox,
    backend,
    manager,
    monitoring,
    nginx,
    pki,
    postgres,
    rediscache,
)

TIMEOUT = 10
CONTRACT_KEYS = set(manager.SECTION_ORDER)


# --- helpers --------------------------------------------------------------------------------------
def https(sb: Sandbox, path: str, method: str = "GET", **kw: Any) -> requests.Response:
    """Request through nginx by IP (the cert has an IP SAN), verified against the sandbox CA."""
    port = sb.state["nginx"]["https_port"]
    kw.setdefault("timeout", TIMEOUT)
    kw.setdefault("allow_redirects", False)
    return requests.request(
        method,
        f"https://127.0.0.1:{port}{path}",
        verify=str(pki.ca_path(sb)),
        headers={"Host": pki.SERVER_NAME, **kw.pop("headers", {})},
        **kw,
    )


def tls_peer(
    sb: Sandbox, *, version: ssl.TLSVersion | None = None, weak: bool = False
) -> tuple[str, x509.Certificate]:
    """Handshake with nginx; return the protocol and the leaf it served (no verification)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if weak:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if version is not None:
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: probing them is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = version
    port = sb.state["nginx"]["https_port"]
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        ctx.wrap_socket(raw, server_hostname=pki.SERVER_NAME) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return str(tls.version()), x509.load_der_x509_certificate(der)


def sandbox_processes(state_dir: Path, pids: list[int]) -> list[psutil.Process]:
    """Live (non-zombie) processes that belong to a sandbox: recorded PIDs or its paths in argv."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if p.pid in pids or str(state_dir) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except psutil.NoSuchProcess:
            continue
    return found


# --- services -------------------------------------------------------------------------------------
def test_health_ready_version(sandbox: Sandbox) -> None:
    assert https(sandbox, "/health").json()["status"] == "healthy"
    ready = https(sandbox, "/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert "version" in https(sandbox, "/api/version").json()


def test_security_headers_and_server_tokens(sandbox: Sandbox) -> None:
    resp = https(sandbox, "/health")
    assert resp.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Referrer-Policy" in resp.headers
    assert "Content-Security-Policy" in resp.headers
    assert resp.headers["Server"] == "nginx"  # no version


def test_http_redirects_to_https(sandbox: Sandbox) -> None:
    port = sandbox.state["nginx"]["http_port"]
    resp = requests.get(
        f"http://127.0.0.1:{port}/health",
        headers={"Host": pki.SERVER_NAME},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert resp.status_code == 301
    assert resp.headers["Location"].startswith(f"https://{pki.SERVER_NAME}:")


def test_forbidden_paths_and_no_listing(sandbox: Sandbox) -> None:
    assert https(sandbox, "/.env").status_code == 404
    assert https(sandbox, "/.git/config").status_code == 404
    assert https(sandbox, "/uploads/").status_code == 403
    assert https(sandbox, "/uploads/study-0001.dcm").status_code == 200


def test_tls_protocols_and_chain(sandbox: Sandbox) -> None:
    version, leaf = tls_peer(sandbox)
    assert version == "TLSv1.3"
    assert tls_peer(sandbox, version=ssl.TLSVersion.TLSv1_2)[0] == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        tls_peer(sandbox, version=ssl.TLSVersion.TLSv1_1, weak=True)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert pki.SERVER_NAME in san.get_values_for_type(x509.DNSName)
    assert not leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert leaf.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=60)
    served = Path(sandbox.state["nginx"]["prefix"], "ssl", "server.crt").read_bytes()
    assert served.count(b"BEGIN CERTIFICATE") == 2  # leaf + intermediate


def test_api_reads_database(sandbox: Sandbox) -> None:
    body = https(sandbox, "/api/studies?limit=3").json()
    assert body["total"] >= 1000
    assert len(body["items"]) == 3


def test_failed_login_is_logged(sandbox: Sandbox) -> None:
    resp = https(sandbox, "/api/login", "POST", json={"username": "admin", "password": "admin"})
    assert resp.status_code == 401
    log = Path(sandbox.state["backend"]["app_log"]).read_text()
    assert "WARNING failed login for user=admin from ip=127.0.0.1" in log


def test_upload_accepted_and_large_body_not_refused(sandbox: Sandbox) -> None:
    resp = https(sandbox, "/api/upload", "POST", data=b"DICM" * 1024)
    assert resp.status_code == 201 and resp.json()["bytes"] == 4096
    # 10 GiB announced with Expect: 100-continue: nginx must answer 100, not 413.
    port = sandbox.state["nginx"]["https_port"]
    ctx = ssl.create_default_context(cafile=str(pki.ca_path(sandbox)))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        ctx.wrap_socket(raw, server_hostname=pki.SERVER_NAME) as tls,
    ):
        tls.sendall(
            b"POST /api/upload HTTP/1.1\r\nHost: app.sandbox.test\r\n"
            b"Content-Length: 10737418240\r\nExpect: 100-continue\r\n\r\n"
        )
        assert tls.recv(64).startswith(b"HTTP/1.1 100")


def test_metrics_exposed(sandbox: Sandbox) -> None:
    text = https(sandbox, "/metrics").text
    assert "http_requests_total{" in text
    assert "http_request_duration_seconds_bucket{" in text


def test_postgres_roles_data_and_tls(sandbox: Sandbox) -> None:
    with psycopg.connect(postgres.dsn(sandbox, "monitor")) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert conn.execute("SELECT pg_has_role('monitor', 'pg_monitor', 'member')").fetchone()
        users = conn.execute("SELECT count(*) FROM users").fetchone()
        studies = conn.execute("SELECT count(*) FROM studies").fetchone()
        assert users and users[0] >= 100 and studies and studies[0] >= 1000
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
        supers = conn.execute("SELECT rolname FROM pg_roles WHERE rolsuper").fetchall()
        assert [r[0] for r in supers] == ["postgres"]
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
    with psycopg.connect(postgres.dsn(sandbox, "restore"), autocommit=True) as conn:
        assert conn.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")
    # Plain TCP without TLS is refused by pg_hba (hostssl only).
    pg = postgres.info(sandbox)
    pw = sandbox.state["env"][postgres.ROLE_VARS["monitor"]]
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            f"postgresql://monitor:{pw}@127.0.0.1:{pg['port']}/app?sslmode=disable",
            connect_timeout=5,
        )


def test_redis_requires_password_and_evicts(sandbox: Sandbox) -> None:
    port = sandbox.state["redis"]["port"]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()
    client = rediscache.client(sandbox)
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert int(client.config_get("maxmemory")["maxmemory"]) == 64 * 1024 * 1024
    assert client.get("app:version") is not None


def test_prometheus_and_alertmanager(sandbox: Sandbox) -> None:
    health = {t["job"]: t["health"] for t in monitoring.targets(sandbox)}
    assert health == {"prometheus": "up", "alertmanager": "up", "backend": "up"}
    rules = requests.get(monitoring.prometheus_url(sandbox, "/api/v1/rules"), timeout=TIMEOUT)
    names = {r["name"] for g in rules.json()["data"]["groups"] for r in g["rules"]}
    assert {"BackendDown", "HighErrorRate"} <= names
    assert monitoring.active_alerts(sandbox) == []
    # --cluster.listen-address= : Alertmanager listens on its web port only, on loopback.
    am_pid = sandbox.state["pids"]["alertmanager"][0]
    listening = [c.laddr for c in psutil.Process(am_pid).net_connections() if c.status == "LISTEN"]
    assert listening and all(a.ip == "127.0.0.1" for a in listening)


def test_every_listener_is_loopback(sandbox: Sandbox) -> None:
    pids = [p for ps in sandbox.state["pids"].values() for p in ps]
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            for c in p.net_connections(kind="inet"):
                if c.status == "LISTEN":
                    assert c.laddr.ip in ("127.0.0.1", "::1"), (p.name(), c.laddr)


# --- inventory ------------------------------------------------------------------------------------
def test_inventory_follows_contract_without_secrets(sandbox: Sandbox) -> None:
    path = Path(sandbox.state["inventory_path"])
    text = path.read_text()
    data = yaml.safe_load(text)
    assert set(data) <= CONTRACT_KEYS
    assert list(data) == [k for k in manager.SECTION_ORDER if k in data]  # contract order
    for key in ("environment", "env_file", "http", "tls", "cert_files", "postgres", "redis"):
        assert key in data, key
    for key in ("prometheus", "alertmanager", "security"):
        assert key in data, key
    assert data["postgres"][0]["dsn"] == "${SANDBOX_PG_DSN}"
    assert data["redis"][0]["url"] == "${SANDBOX_REDIS_URL}"
    for var, value in sandbox.state["env"].items():
        assert str(value) not in text, f"secret {var} appears in the inventory"
    env_file = path.parent / data["env_file"]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env_text = env_file.read_text()
    assert "SANDBOX_PG_DSN=" in env_text and "SANDBOX_REDIS_URL=" in env_text


def test_inventory_loads_with_project_loader(sandbox: Sandbox) -> None:
    inventory = pytest.importorskip("opsverify.inventory")
    inv = inventory.load_inventory(sandbox.state["inventory_path"], environ={})
    assert inv.environment == "sandbox"


# --- knobs ----------------------------------------------------------------------------------------
@pytest.fixture
def restore_nginx(sandbox: Sandbox) -> Iterator[None]:
    yield
    nginx.reset(sandbox)


def test_nginx_cert_swap_and_revert(sandbox: Sandbox, restore_nginx: None) -> None:
    issued = pki.issue_leaf(sandbox, "expiring", days_valid=5)
    nginx.configure(sandbox, cert=str(issued.chain), key=str(issued.key))
    left = tls_peer(sandbox)[1].not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=4) < left < dt.timedelta(days=6)
    nginx.reset(sandbox)
    assert tls_peer(sandbox)[1].not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(60)


def test_nginx_weak_cert_needs_seclevel0(sandbox: Sandbox, restore_nginx: None) -> None:
    sha1 = pki.issue_leaf(sandbox, "sha1", hash_alg="sha1")
    with pytest.raises(manager.SandboxError, match="too weak"):
        nginx.configure(sandbox, cert=str(sha1.chain), key=str(sha1.key))
    assert https(sandbox, "/health").status_code == 200  # the old config still serves
    nginx.configure(sandbox, cert=str(sha1.chain), key=str(sha1.key), ciphers="DEFAULT:@SECLEVEL=0")
    leaf = tls_peer(sandbox, weak=True)[1]
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == "sha1"


def test_nginx_option_knobs(sandbox: Sandbox, restore_nginx: None) -> None:
    nginx.configure(
        sandbox,
        hsts=False,
        server_tokens=True,
        deny_dotfiles=False,
        autoindex=True,
        protocols="TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
        ciphers="DEFAULT:@SECLEVEL=0",
    )
    resp = https(sandbox, "/health")
    assert "Strict-Transport-Security" not in resp.headers
    assert resp.headers["Server"].startswith("nginx/")
    assert https(sandbox, "/.env").status_code == 200
    assert "study-0001.dcm" in https(sandbox, "/uploads/").text
    assert tls_peer(sandbox, version=ssl.TLSVersion.TLSv1_1, weak=True)[0] == "TLSv1.1"
    nginx.reset(sandbox)
    assert https(sandbox, "/.env").status_code == 404


def test_backend_control_knobs(sandbox: Sandbox) -> None:
    try:
        backend.set_control(sandbox, health_status="degraded", ready_fail=True)
        resp = https(sandbox, "/health")
        assert resp.status_code == 200 and resp.json()["status"] == "degraded"
        assert https(sandbox, "/ready").status_code == 503
        backend.set_control(sandbox, error_rate=1.0, health_status=None, ready_fail=None)
        assert https(sandbox, "/api/version").status_code == 500
        assert https(sandbox, "/health").json()["status"] == "healthy"
        backend.set_control(sandbox, error_rate=None, slow_ms=600)
        began = time.monotonic()
        https(sandbox, "/api/version")
        assert time.monotonic() - began >= 0.6
    finally:
        backend.reset_control(sandbox)
    assert https(sandbox, "/ready").status_code == 200


def test_alert_post_and_resolve(sandbox: Sandbox) -> None:
    labels = {"alertname": "SandboxSelfTest", "severity": "critical"}
    monitoring.post_alert(sandbox, labels)
    try:
        assert any(a["labels"] == labels for a in monitoring.active_alerts(sandbox))
    finally:
        monitoring.resolve_alert(sandbox, labels)
    assert not any(a["labels"] == labels for a in monitoring.active_alerts(sandbox))


def test_postgres_and_redis_knobs(sandbox: Sandbox) -> None:
    postgres.alter_system(sandbox, "log_min_duration_statement", "250")
    assert postgres.psql(sandbox, "SHOW log_min_duration_statement") == "250ms"
    postgres.alter_system(sandbox, "log_min_duration_statement", None)
    assert postgres.psql(sandbox, "SHOW log_min_duration_statement") == "-1"
    rediscache.config_set(sandbox, "maxmemory-policy", "noeviction")
    assert rediscache.redis_cli(sandbox, "CONFIG", "GET", "maxmemory-policy").endswith("noeviction")
    rediscache.config_set(
        sandbox, "maxmemory-policy", rediscache.defaults(sandbox)["maxmemory-policy"]
    )


def test_fault_registry_has_unique_names(sandbox: Sandbox) -> None:
    registry = manager.faults()
    for name, fault in registry.items():
        assert name == fault.name and fault.area and fault.description


# --- lifecycle across processes -----------------------------------------------------------------
def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsverify.sandbox", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, manager.SKIP_ENV: "docker,host,backups"},
    )


def test_cli_up_status_down_leaves_nothing() -> None:
    """up, status and down each in its own process; down must stop every process by PID."""
    state_dir = Path(tempfile.mkdtemp(prefix="opsverify-lifecycle-", dir="/tmp"))
    state_dir.chmod(0o755)
    inventory = state_dir / "out" / "sandbox.yml"
    try:
        began = time.monotonic()
        res = _cli("up", "--state-dir", str(state_dir), "--inventory-out", str(inventory))
        up_s = time.monotonic() - began
        assert res.returncode == 0, res.stderr
        assert str(inventory) in res.stdout and inventory.exists()
        assert up_s < 30, f"up took {up_s:.1f}s"

        again = _cli("up", "--state-dir", str(state_dir), "--inventory-out", str(inventory))
        assert again.returncode == 0 and "already running" in again.stdout

        st = json.loads(_cli("status", "--json", "--state-dir", str(state_dir)).stdout)
        assert st["status"] == "running"
        pids = [int(p) for procs in st["processes"].values() for p in procs]
        assert pids and all(alive for procs in st["processes"].values() for alive in procs.values())

        began = time.monotonic()
        res = _cli("down", "--state-dir", str(state_dir))
        down_s = time.monotonic() - began
        assert res.returncode == 0, res.stderr
        assert down_s < 5, f"down took {down_s:.1f}s"
        assert sandbox_processes(state_dir, pids) == []
        assert manager.status(state_dir)["status"] == "stopped"
        assert not manager._mounts_under(state_dir)
    finally:
        manager.down(state_dir)
        subprocess.run(["rm", "-rf", str(state_dir)], timeout=30, check=False)


def test_cli_expected_errors_are_one_line() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="opsverify-empty-", dir="/tmp"))
    try:
        res = _cli("inject", "no_such_fault", "--state-dir", str(state_dir))
        assert res.returncode == 1
        assert res.stderr.startswith("error: no running sandbox")
        assert "Traceback" not in res.stderr
    finally:
        state_dir.rmdir()


def test_orphaned_self_test_sandboxes_are_reaped(tmp_path: Path) -> None:
    """A session killed with SIGKILL leaves its sandbox; the next session removes it, and
    only it: a live owner's sandbox and a directory without an owner record stay."""
    import psutil

    from tests.conftest import OWNER_FILE, PREFIX, reap_orphans

    me = psutil.Process()
    dead = tmp_path / f"{PREFIX}dead"
    live = tmp_path / f"{PREFIX}live"
    foreign = tmp_path / f"{PREFIX}cli"
    for d in (dead, live, foreign):
        d.mkdir()
    (dead / OWNER_FILE).write_text(f"{me.pid} {me.create_time() - 3600}\n")  # pid reused
    (live / OWNER_FILE).write_text(f"{me.pid} {me.create_time()}\n")
    assert reap_orphans(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and foreign.exists()
