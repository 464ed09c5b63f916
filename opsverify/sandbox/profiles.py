"""Sandbox profiles: the sandbox shaped like one of the five reference systems.

``python -m opsverify.sandbox up --profile allodoc`` starts the same real services as the
generic sandbox, but lays them out the way that system's runbook (and its example inventory
``environments/example-<system>.yml``) describes them: the same endpoint paths and item names,
the same backup naming and folder (relative to the state directory), the same thresholds, on
free loopback ports. A team sees its own inventory running; the self-tests prove that the
faults typical of that runbook are caught (tests/reference/test_profiles.py).

A profile is data (:class:`Profile`); it is recorded in ``sb.state["profile"]`` before any
component starts, and applied by:

- the existing components, which read the values they need from the state with defaults equal
  to the generic sandbox's (backups: folder, file names, formats, retention, tables to count;
  manager: environment name, description, thresholds; docker: the compose project and service
  names, so the containers are named and labelled as that system's ``docker compose`` makes them);
- :class:`ProfileComponent`, started after nginx: the profile's extra tables, a second instance
  of the backend application as the ML service (SpherosegV4), a light steady traffic when the
  runbook sets a throughput floor (AlloDoc), and the inventory sections rewritten to the
  example's item names (http, tls, cert_files, redis, prometheus, alertmanager, security).

What a profile does not shape, and why: the remote host (profiles start without ``host``, the
generic sandbox proves those checks), what runs inside the containers (the same busybox
services as the generic sandbox, named after the system's services: the checks see names,
states, healthchecks, limits and users, not the application), database and role names (the
checks only see the ``main`` item and its DSN), and services the sandbox does not run
(Grafana, a separate Next.js frontend: nginx serves the frontend).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from . import pki, postgres
from .base import Component, Sandbox, SandboxError, wait_gone, wait_port

#: Where an http item points: nginx over HTTPS (the public name), the backend or the ML service
#: directly over HTTP (the runbook's ``localhost:PORT`` calls), Prometheus, Alertmanager.
SERVICES = ("nginx", "backend", "ml", "prometheus", "alertmanager")


@dataclass(frozen=True)
class Endpoint:
    """One ``http`` item: its example name, which sandbox service answers it, its path."""

    name: str
    service: str
    path: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackupSeries:
    """One backup series as the runbook's job names it.

    ``key`` is the generic series the backup faults address (``database`` or ``uploads``);
    ``item`` the inventory name of the example. The file name is
    ``prefix + strftime(stamp) + suffix``; ``top`` is the tree an archive holds.
    """

    key: str
    item: str
    prefix: str
    suffix: str
    format: str
    stamp: str = "%Y%m%d_%H%M%S"
    top: str = ""

    def state(self) -> dict[str, Any]:
        return {"item": self.item, "prefix": self.prefix, "suffix": self.suffix,
                "format": self.format, "stamp": self.stamp, "top": self.top,
                "pattern": f"{self.prefix}*{self.suffix}"}


@dataclass(frozen=True)
class Profile:
    """What one reference system looks like, as data the components apply."""

    name: str
    title: str
    runbook: str
    thresholds: dict[str, Any]
    http: tuple[Endpoint, ...]
    tls: str  # name of the nginx TLS item
    backup_dir: str  # relative to the state directory: the runbook's absolute path
    backups: tuple[BackupSeries, ...]
    backup_retention: dict[str, int] | None = None
    min_rows: dict[str, int] | None = None
    redis: str = "cache"
    cert_file: str | None = None  # name of the cert_files item, None: section not declared
    prometheus: bool = False
    alertmanager: bool = False
    forbidden_paths: tuple[str, ...] = ("/.env", "/.git/config", "/.git/HEAD", "/server-status",
                                        "/backup.sql")
    tables_sql: str = ""
    ml_service: bool = False
    traffic_rps: float = 0.0
    #: The example's ``docker.project`` and ``docker.services``: the containers' compose names.
    docker_project: str = ""
    docker_services: tuple[str, ...] = ()
    #: The example's ``docker.log_patterns`` (what its runbook greps the container logs for).
    docker_log_patterns: tuple[dict[str, Any], ...] = ()
    #: Components a profile leaves out: the remote host (the generic sandbox proves its checks)
    #: and the streaming standby (no example declares replication).
    skip: tuple[str, ...] = ("host", "postgres-standby")

    def state(self) -> dict[str, Any]:
        """The JSON form recorded in ``sb.state["profile"]`` (what components read)."""
        return {
            "name": self.name,
            "title": self.title,
            "runbook": self.runbook,
            "environment": f"sandbox-{self.name}",
            "description": f"opsverify sandbox shaped like {self.title} (runbook {self.runbook})",
            "thresholds": dict(self.thresholds),
            "http": [dataclasses.asdict(e) for e in self.http],
            "tls": self.tls,
            "redis": self.redis,
            "cert_file": self.cert_file,
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "forbidden_paths": list(self.forbidden_paths),
            "ml_service": self.ml_service,
            "traffic_rps": self.traffic_rps,
            "docker": {"project": self.docker_project, "services": list(self.docker_services),
                       "one_shot": [],
                       "log_patterns": [dict(p) for p in self.docker_log_patterns]},
            "backups": {
                "dir": self.backup_dir,
                "retention": dict(self.backup_retention or {}),
                "min_rows": dict(self.min_rows or {}),
                "series": {s.key: s.state() for s in self.backups},
            },
        }


_NGINX_CA = {"resolve": "127.0.0.1"}  # + ca_file, filled in at run time

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="dicom-viewer",
            title="the DICOM viewer",
            runbook="000",
            thresholds={"timeout_s": 10, "disk_used_max_pct": 90, "memory_used_max_pct": 85,
                        "cert_warn_days": 30, "cert_fail_days": 7, "latency_p95_ms": 2000,
                        "error_rate_max": 0.05, "backup_max_age_h": 24, "long_query_s": 300,
                        "log_file_max_mb": 100, "slow_statement_mean_ms": 1000},
            http=(
                # daily script: curl -f http://localhost/health (frontend, through nginx)
                Endpoint("frontend-health", "nginx", "/health", {"expect_status": 200}),
                # daily script: curl -f http://localhost:3001/api/health (backend directly)
                Endpoint("backend-health", "backend", "/api/health", {"expect_status": 200}),
                Endpoint("application", "nginx", "/", {"expect_status": 200}),
                Endpoint("api-health", "nginx", "/api/health", {"expect_status": 200}),
                Endpoint("prometheus", "prometheus", "/-/healthy", {"expect_status": 200}),
            ),
            tls="frontend",
            cert_file="",
            prometheus=True,
            # Backup Verification: ls -t /opt/backups/dicom-viewer/database_*.sql (plain SQL);
            # Manual Backup: uploads_backup_$(date +%Y%m%d_%H%M%S).tar.gz of server/uploads/
            backup_dir="opt/backups/dicom-viewer",
            backups=(
                BackupSeries("database", "database", "database_", ".sql", "pg_plain",
                             stamp="%Y%m%d"),
                BackupSeries("uploads", "uploads", "uploads_backup_", ".tar.gz", "tar_gz",
                             top="server/uploads"),
            ),
            backup_retention={"daily": 30},  # find ... -mtime +30 -delete
            min_rows={"users": 1},
            forbidden_paths=("/.env", "/.env.production", "/.git/config", "/.git/HEAD",
                             "/server-status", "/backup.sql"),
            redis="sessions",
            docker_project="dicom-viewer",
            docker_services=("database", "redis", "backend", "frontend", "prometheus", "grafana"),
        ),
        Profile(
            name="horalix-view",
            title="Horalix View",
            runbook="001",
            thresholds={"timeout_s": 10, "latency_p95_ms": 500, "error_rate_max": 0.01,
                        "memory_used_max_pct": 80, "disk_used_max_pct": 90,
                        "cert_warn_days": 30, "cert_fail_days": 7, "backup_max_age_h": 24},
            http=(
                Endpoint("backend-health", "backend", "/health",
                         {"expect_status": 200, "expect_json": {"status": "healthy"}}),
                # /ready opens a fresh PostgreSQL (TLS) and Redis session per call: the heavy
                # endpoint the generic sandbox also gives 2 s (PRF-001 bursts 50 of them).
                Endpoint("backend-ready", "backend", "/ready",
                         {"expect_status": 200, "expect_json": {"status": "ready"},
                          "latency_p95_ms": 2000}),
                Endpoint("backend-metrics", "backend", "/metrics",
                         {"expect_status": 200, "expect_metrics": ["python_info"]}),
                Endpoint("frontend", "nginx", "/", {"method": "HEAD", "expect_status": 200}),
                Endpoint("public", "nginx", "/", {"method": "HEAD", "expect_status": 200}),
                # Upload Limits: client_max_body_size 10g (the runbook names no upload route)
                Endpoint("dicom-upload", "nginx", "/api/upload", {"accepts_upload": "10g"}),
            ),
            tls="public",
            backup_dir="backup/horalix",
            backups=(
                BackupSeries("database", "database", "backup_", ".sql.gz", "pg_plain_gz"),
                BackupSeries("uploads", "dicom-files", "dicom_backup_", ".tar.gz", "tar_gz",
                             stamp="%Y%m%d", top="storage/dicom"),
            ),
            docker_project="horalix-view",
            docker_services=("backend", "frontend", "postgres", "redis", "nginx"),
            skip=("host", "postgres-standby", "monitoring"),  # no Prometheus declared
        ),
        Profile(
            name="allodoc",
            title="AlloDoc",
            runbook="002",
            thresholds={"timeout_s": 10, "latency_p95_ms": 2000, "error_rate_max": 0.01,
                        "request_rate_min": 1.67, "db_connections_max_pct": 50,
                        "memory_used_max_pct": 85, "disk_used_max_pct": 90,
                        "cert_warn_days": 30, "cert_fail_days": 7,
                        "slow_statement_mean_ms": 1000, "backup_max_age_h": 24, "rto_min": 30},
            http=(
                Endpoint("backend-health", "backend", "/health", {"expect_status": 200}),
                Endpoint("frontend", "nginx", "/", {"expect_status": 200}),
            ),
            tls="frontend",
            prometheus=True,
            alertmanager=True,
            # Manual Database Backup: /backups/backup_production_<YYYYMMDD>_<HHMMSS>.sql.gz
            backup_dir="backups",
            backups=(BackupSeries("database", "database", "backup_production_", ".sql.gz",
                                  "pg_plain_gz"),),
            backup_retention={"daily": 30, "weekly": 12, "monthly": 12},
            min_rows={"patients": 1},
            tables_sql="""
CREATE TABLE patients (id serial PRIMARY KEY, full_name text NOT NULL, birth_date date,
                       created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO patients (full_name, birth_date)
SELECT 'patient ' || g, date '1940-01-01' + g * 7 FROM generate_series(1, 500) AS g;
CREATE TABLE consultations (id serial PRIMARY KEY, patient_id integer NOT NULL
                            REFERENCES patients (id), doctor text NOT NULL, notes text,
                            created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO consultations (patient_id, doctor, notes)
SELECT 1 + g % 500, 'dr ' || (g % 12), 'consultation ' || g FROM generate_series(1, 2000) AS g;
""",
            # "Throughput: > 100 req/min": a little steady traffic, as real users would make
            traffic_rps=4.0,
            docker_project="allodoc",
            docker_services=("nginx", "frontend", "backend", "postgres", "redis"),
        ),
        Profile(
            name="spherosegv4",
            title="SpherosegV4",
            runbook="003",
            thresholds={"timeout_s": 10, "long_query_s": 300, "idle_in_transaction_s": 600,
                        "disk_used_max_pct": 90, "memory_used_max_pct": 85,
                        "cert_warn_days": 30, "cert_fail_days": 7, "backup_max_age_h": 24},
            http=(
                Endpoint("frontend", "nginx", "/", {"expect_status": 200}),
                Endpoint("backend-health", "nginx", "/health", {"expect_status": 200}),
                # scripts/health-check.sh: ML Service http://localhost:5002/health
                Endpoint("ml-health", "ml", "/health", {"expect_status": 200}),
                Endpoint("ml-health-post", "ml", "/health",
                         {"method": "POST", "expect_status": 200}),
            ),
            tls="frontend",
            prometheus=True,
            alertmanager=True,
            backup_dir="var/lib/docker/volumes/spheroseg_backups/_data",
            backups=(BackupSeries("database", "database", "spheroseg_backup_", ".sql.gz",
                                  "pg_plain_gz"),),
            min_rows={"users": 1},
            forbidden_paths=("/.env", "/.env.production", "/.git/config", "/.git/HEAD",
                             "/server-status", "/backup.sql"),
            ml_service=True,
            docker_project="spheroseg",
            docker_services=("frontend", "backend", "ml", "db", "redis", "nginx", "backup"),
        ),
        Profile(
            name="regulatory-assistant",
            title="the Medical Device Regulatory Assistant",
            runbook="004",
            thresholds={"timeout_s": 10, "latency_p95_ms": 2000, "error_rate_max": 0.01,
                        "memory_used_max_pct": 85, "disk_used_max_pct": 90,
                        "cert_warn_days": 30, "cert_fail_days": 7,
                        "idle_in_transaction_s": 300, "slow_statement_mean_ms": 1000,
                        "backup_max_age_h": 24},
            http=(
                Endpoint("nginx-health", "nginx", "/health", {"expect_status": 200}),
                Endpoint("frontend-health", "nginx", "/api/health", {"expect_status": 200}),
                # the FastAPI backend on its own port: /health, /health/database, /health/redis
                Endpoint("backend-health", "backend", "/health", {"expect_status": 200}),
                Endpoint("backend-database", "backend", "/health/database",
                         {"expect_status": 200}),
                Endpoint("backend-redis", "backend", "/health/redis", {"expect_status": 200}),
            ),
            tls="public",
            cert_file="nginx",
            backup_dir=("var/lib/docker/volumes/"
                        "medical-device-regulatory-assistant_backend_backups/_data"),
            backups=(BackupSeries("database", "database", "backup_", ".sql.gz",
                                  "pg_plain_gz"),),
            min_rows={"users": 1, "projects": 1},
            tables_sql="""
CREATE TABLE projects (id serial PRIMARY KEY, user_id integer NOT NULL REFERENCES users (id),
                       device_name text NOT NULL, device_class text NOT NULL,
                       created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO projects (user_id, device_name, device_class)
SELECT 1 + g % 200, 'device ' || g, (ARRAY['I', 'II', 'III'])[1 + g % 3]
FROM generate_series(1, 300) AS g;
CREATE TABLE agent_interactions (id bigserial PRIMARY KEY, project_id integer NOT NULL
                                 REFERENCES projects (id), question text, answer text,
                                 created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO agent_interactions (project_id, question, answer)
SELECT 1 + g % 300, 'predicate search ' || g, 'K' || (100000 + g)
FROM generate_series(1, 1000) AS g;
""",
            prometheus=True,  # the metrics behind its Grafana dashboards (availability)
            docker_project="medical-device-regulatory-assistant",
            docker_services=("nginx", "frontend", "backend", "postgres", "redis"),
            # FDA API Rate Limiting: docker compose logs backend | grep -i "rate limit"
            docker_log_patterns=({"name": "fda-rate-limit", "pattern": "(?i)rate limit",
                                  "max": 10, "services": ["backend"]},),
        ),
    )
}


def get(name: str) -> Profile:
    """The profile called ``name``, or a SandboxError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise SandboxError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}"
        ) from None


def active(sb: Sandbox) -> dict[str, Any]:
    """The profile recorded in this sandbox's state (empty: the generic sandbox)."""
    data: dict[str, Any] = sb.state.get("profile") or {}
    return data


# --- the ML service: a second instance of the backend application ------------------------------
def _ml_dir(sb: Sandbox) -> Path:
    return sb.path("ml")


def ml_url(sb: Sandbox, path: str = "/") -> str:
    return f"http://127.0.0.1:{sb.port('ml')}{path}"


def start_ml(sb: Sandbox) -> None:
    """Start the ML service: the backend app under gunicorn on its own port, own control file.

    Its own process (not a route of the backend) so that it can go down alone, as the runbook's
    ML container does; its own control file so that backend faults leave it alone.
    """
    from gunicorn.config import KNOWN_SETTINGS

    d = _ml_dir(sb)
    d.mkdir(parents=True, exist_ok=True)
    sb.path("logs", "ml").mkdir(parents=True, exist_ok=True)
    config = json.loads((sb.path("backend") / "config.json").read_text())
    config.update({"control_file": str(d / "control.json"), "log_dir": str(sb.path("logs", "ml"))})
    cfg = d / "config.json"
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(config, fh)
    port = sb.port("ml")
    argv = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "4", "--worker-class", "gthread",
        "--timeout", "120", "--graceful-timeout", "2", "--pid", str(d / "gunicorn.pid"),
        "--chdir", str(d),
    ]  # fmt: skip
    if "control_socket" in {s.name for s in KNOWN_SETTINGS}:
        argv += ["--control-socket", str(d / "gunicorn.ctl")]
    sb.spawn("ml", [*argv, "opsverify.sandbox.backend_app:app"],
             env={"OPSVERIFY_BACKEND_CONFIG": str(cfg), "PYTHONUNBUFFERED": "1"}, cwd=d)
    wait_port(port, timeout=20)
    resp = requests.get(ml_url(sb, "/health"), timeout=10)
    if resp.status_code != 200:
        raise SandboxError(f"ML service /health answered {resp.status_code}")


def stop_ml(sb: Sandbox) -> None:
    """SIGINT (gunicorn's quick shutdown), then whatever is left; the port is free after."""
    pids = list(sb.state.get("pids", {}).get("ml", []))
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(signal.SIGINT)
    wait_gone(pids, timeout=3)
    sb.stop_processes("ml", timeout=2)


def ml_running(sb: Sandbox) -> bool:
    return any(psutil.pid_exists(p) for p in sb.state.get("pids", {}).get("ml", []))


# --- steady traffic ------------------------------------------------------------------------------
def _wait_scraped(query_url: str, timeout: float = 30.0) -> None:
    """Until Prometheus holds a sample of the backend's request counter (or ``timeout``).

    Its service discovery may hand out the backend target seconds after the traffic starts
    (later still on a loaded machine): a backlog sent before the first sample would be part
    of the counter's starting value, invisible to ``rate()``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, ValueError):
            resp = requests.get(query_url, params={"query": 'http_requests_total{job="backend"}'},
                                timeout=2)
            if resp.json().get("data", {}).get("result"):
                return
        time.sleep(0.25)


def _traffic_loop(url: str, rps: float, backlog: int, query_url: str = "") -> None:
    """``python -m opsverify.sandbox.profiles traffic URL RPS BACKLOG [QUERY_URL]``: traffic.

    Prometheus' ``rate(...[5m])`` divides by the whole 5 minutes, so a service that just
    started shows a fraction of its real rate. The loop therefore first lets Prometheus see
    the series (one request, then the backend's counter in Prometheus' ``QUERY_URL``, or two
    scrape intervals without one), replays ``backlog`` requests (the 5 minutes of traffic a
    running service would have behind it), then keeps ``rps``.
    """
    from concurrent.futures import ThreadPoolExecutor

    session = requests.Session()

    def hit(_: object = None) -> None:
        with contextlib.suppress(requests.RequestException):
            session.get(url, timeout=2).close()

    hit()
    if query_url:
        _wait_scraped(query_url)
    else:
        time.sleep(3)  # the scrape interval is 2 s
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hit, range(backlog)))
    period = 1.0 / rps
    while True:
        t0 = time.monotonic()
        hit()
        time.sleep(max(0.0, period - (time.monotonic() - t0)))


def _request_rate(sb: Sandbox) -> float:
    from . import monitoring

    resp = requests.get(monitoring.prometheus_url(sb, "/api/v1/query"),
                        params={"query": "sum(rate(http_requests_total[5m]))"}, timeout=5)
    result = resp.json().get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else 0.0


# --- the component -------------------------------------------------------------------------------
class ProfileComponent(Component):
    """What only a profile adds, started after nginx; then the inventory in the example's names."""

    name = "profile"

    def up(self, sb: Sandbox) -> None:
        prof = active(sb)
        if not prof:
            return
        profile = get(prof["name"])
        if profile.tables_sql:
            # As the application role (it owns the schema and the backups dump it as app).
            postgres.psql(sb, "SET ROLE app;\n" + profile.tables_sql
                          + "GRANT SELECT ON ALL TABLES IN SCHEMA public TO monitor;\n"
                          "RESET ROLE;\nANALYZE;\n")
        monitored = "monitoring" in sb.state.get("components", [])
        if profile.ml_service:
            if monitored:  # published first: Prometheus' discovery overlaps the ML start
                from . import monitoring

                monitoring.add_scrape_target(sb, "ml", f"127.0.0.1:{sb.port('ml')}", wait=False)
            start_ml(sb)
        if profile.traffic_rps:
            target = f"http://127.0.0.1:{sb.state['backend']['port']}/health"
            floor = float(profile.thresholds.get("request_rate_min", 0))
            backlog = int(max(floor, profile.traffic_rps) * 300 * 1.2)  # 5 min, 20 % margin
            argv = [sys.executable, "-m", __name__, "traffic", target,
                    str(profile.traffic_rps), str(backlog)]
            if monitored:
                from . import monitoring

                argv.append(monitoring.prometheus_url(sb, "/api/v1/query"))
            sb.spawn("traffic", argv)
        self._inventory(sb, profile, monitored)

    def ready(self, sb: Sandbox) -> None:
        """The ML scrape target up; with a throughput floor, Prometheus sees the traffic above it.

        Monitoring's own ``ready`` ran before the ML job was published to Prometheus' service
        discovery, so it could not wait for it.
        """
        prof = active(sb)
        if prof.get("ml_service") and "ml" in sb.state.get("monitoring", {}).get(
                "extra_targets", {}):
            from . import monitoring

            monitoring.wait_targets(sb, expect={"ml": "up"}, timeout=20)
        floor = float(prof.get("thresholds", {}).get("request_rate_min", 0))
        if not prof.get("traffic_rps") or not floor:
            return
        deadline = time.monotonic() + 30
        rate = 0.0
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException, ValueError, KeyError):
                rate = _request_rate(sb)
                if rate >= floor:
                    return
            time.sleep(0.5)
        raise SandboxError(f"request rate {rate:.2f} req/s still below {floor} after 30s")

    def down(self, sb: Sandbox) -> None:
        stop_ml(sb)
        sb.stop_processes("traffic", timeout=2)

    @staticmethod
    def _inventory(sb: Sandbox, profile: Profile, monitored: bool) -> None:
        """Rewrite the sections the other components wrote into the example's item names."""
        inv = sb.state.setdefault("inventory", {})
        ca = str(pki.ca_path(sb))
        nginx_st = sb.state["nginx"]
        bases = {
            "nginx": f"https://{pki.SERVER_NAME}:{nginx_st['https_port']}",
            "backend": f"http://127.0.0.1:{sb.state['backend']['port']}",
            "ml": f"http://127.0.0.1:{sb.port('ml')}" if profile.ml_service else "",
        }
        if monitored:
            bases["prometheus"] = f"http://127.0.0.1:{sb.state['monitoring']['prometheus_port']}"
            bases["alertmanager"] = (
                f"http://127.0.0.1:{sb.state['monitoring']['alertmanager_port']}")
        http = []
        for ep in profile.http:
            if not bases.get(ep.service):
                raise SandboxError(f"profile {profile.name}: {ep.name} needs {ep.service}, "
                                   "which this sandbox does not run")
            item: dict[str, Any] = {"name": ep.name, "url": bases[ep.service] + ep.path,
                                    **ep.extra}
            if ep.service == "nginx":
                item.update(ca_file=ca, **_NGINX_CA)
            http.append(item)
        inv["http"] = http
        inv["tls"] = [{"name": profile.tls, "host": "127.0.0.1",
                       "port": nginx_st["https_port"], "server_name": pki.SERVER_NAME,
                       "ca_file": ca, "http_port": nginx_st["http_port"]}]
        if profile.cert_file is None:
            inv.pop("cert_files", None)
        elif profile.cert_file:
            for cf in inv.get("cert_files", []):
                cf["name"] = profile.cert_file
        for item in inv.get("redis", []):
            item["name"] = profile.redis
        if not (profile.prometheus and monitored):
            inv.pop("prometheus", None)
        if not (profile.alertmanager and monitored):
            inv.pop("alertmanager", None)
        elif "alertmanager" in inv:
            inv["alertmanager"]["fail_severity"] = "critical"
        inv.setdefault("security", {})["forbidden_paths"] = list(profile.forbidden_paths)
        sb.save()


def main(argv: list[str]) -> int:
    if len(argv) in (4, 5) and argv[0] == "traffic":
        _traffic_loop(argv[1], float(argv[2]), int(argv[3]), *argv[4:])
        return 0
    print("usage: python -m opsverify.sandbox.profiles traffic URL RPS BACKLOG [QUERY_URL]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
