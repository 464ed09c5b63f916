"""The five reference inventories (environments/example-*.yml) load and say what their runbooks say.

Each example is the file a team copies to adopt opsverify, so it must validate against the
inventory contract with only its ``${VAR}`` secrets supplied, and its facts (ports, paths,
thresholds) must stay the runbook's. Validation only: no test sends traffic to these hosts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opsverify.errors import InventoryError
from opsverify.inventory import HttpEndpoint, Inventory, load_inventory
from tests.reference.examples import ROOT, SYSTEMS, dummy_environ, example_path, required_vars

ENVIRONMENTS = ROOT / "environments"


def _path(system: str) -> Path:
    return example_path(system)


def _load(system: str) -> Inventory:
    path = _path(system)
    return load_inventory(path, environ=dummy_environ(path))


def _http(inv: Inventory, name: str) -> HttpEndpoint:
    return next(h for h in inv.http if h.name == name)


@pytest.mark.parametrize("system", SYSTEMS)
def test_example_validates_with_only_its_secrets(system: str) -> None:
    inv = _load(system)
    assert inv.environment == "production"
    assert inv.description and "runbook" in inv.description


@pytest.mark.parametrize("system", SYSTEMS)
def test_secrets_are_variables_never_values(system: str) -> None:
    """Credentials are ${VAR}s: without the variables the file refuses to load."""
    path = _path(system)
    data = yaml.safe_load(path.read_text())
    for pg in data.get("postgres", []):
        for key in ("dsn", "restore_dsn"):
            if key in pg:
                assert "${" in pg[key], f"{system}: postgres {pg['name']}.{key} holds a literal"
    for r in data.get("redis", []):
        assert "${" in r["url"], f"{system}: redis {r['name']}.url holds a literal"
    assert required_vars(path), f"{system}: declares no secret variable"
    with pytest.raises(InventoryError, match=r"environment variable \w+ is not set"):
        load_inventory(path, environ={})


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_section_a_runbook_names_is_declared(system: str) -> None:
    inv = _load(system)
    for section in ("http", "postgres", "redis", "docker", "hosts", "backups", "security"):
        assert inv.section_declared(section), f"{system}: section {section} missing"


def test_dicom_viewer_facts() -> None:
    inv = _load("dicom-viewer")
    assert _http(inv, "frontend-health").url == "http://localhost/health"
    assert _http(inv, "backend-health").url == "http://localhost:3001/api/health"
    assert _http(inv, "api-health").url == "https://your-domain.com/api/health"
    (db, uploads) = inv.backups
    assert (db.path, db.pattern, db.format) == (
        "/opt/backups/dicom-viewer", "database_*.sql", "pg_plain")
    assert db.restore is not None and db.restore.min_rows == {"users": 1}
    assert db.retention is not None and db.retention.daily == 30
    assert uploads.format == "tar_gz"
    assert inv.thresholds.latency_p95_ms == 2000
    assert inv.thresholds.error_rate_max == 0.05
    assert inv.thresholds.disk_used_max_pct == 90
    assert inv.thresholds.memory_used_max_pct == 85
    assert inv.thresholds.cert_warn_days == 30
    assert inv.thresholds.long_query_s == 300
    assert inv.thresholds.log_file_max_mb == 100
    assert inv.cert_files[0].path.endswith("ssl/nginx-selfsigned.crt")
    assert inv.tls[0].sni == "your-domain.com"
    assert "localhost:5432/dicom_viewer" in inv.postgres[0].dsn
    assert inv.docker is not None and inv.docker.project == "dicom-viewer"
    assert inv.prometheus is not None and inv.prometheus.url == "http://localhost:9090"
    assert inv.security is not None
    assert any(c.url == "http://localhost:3000/login" and c.kind == "grafana"
               and c.password == "admin" for c in inv.security.default_credentials)


def test_horalix_view_facts() -> None:
    inv = _load("horalix-view")
    assert _http(inv, "backend-health").url == "http://localhost:8000/health"
    assert _http(inv, "backend-health").expect_json == {"status": "healthy"}
    assert _http(inv, "backend-ready").url == "http://localhost:8000/ready"
    assert _http(inv, "backend-ready").expect_json == {"status": "ready"}
    assert _http(inv, "backend-metrics").url == "http://localhost:8000/metrics"
    assert _http(inv, "frontend").url == "http://localhost:3000/"
    assert _http(inv, "dicom-upload").accepts_upload == 10 * 1024**3
    assert inv.thresholds.latency_p95_ms == 500
    assert inv.thresholds.error_rate_max == 0.01
    assert inv.thresholds.memory_used_max_pct == 80
    assert "/horalix_view" in inv.postgres[0].dsn
    assert {b.name for b in inv.backups} == {"database", "dicom-files", "full-backup-database",
                                             "full-backup-dicom", "full-backup-models"}
    assert next(b for b in inv.backups if b.name == "full-backup-database").pattern == \
        "*/database.sql"
    assert inv.backups[0].pattern == "backup_*.sql.gz"
    assert all(b.path == "/backup/horalix" for b in inv.backups)
    assert len(inv.hosts[0].env_files) == 3


def test_allodoc_facts() -> None:
    inv = _load("allodoc")
    assert "@localhost:5433/allodoc_prod" in inv.postgres[0].dsn
    assert inv.redis[0].url.endswith("@localhost:6379/0")
    assert _http(inv, "backend-health").url == "http://localhost:3000/health"
    assert _http(inv, "frontend").url == "http://localhost:4200/"
    (db,) = inv.backups
    assert db.retention is not None
    assert (db.retention.daily, db.retention.weekly, db.retention.monthly) == (30, 12, 12)
    assert db.path == "/backups" and db.pattern == "backup_production_*.sql.gz"
    t = inv.thresholds
    assert t.latency_p95_ms == 2000 and t.error_rate_max == 0.01
    assert t.db_connections_max_pct == 50  # "< 50 connections" of max_connections = 100
    assert t.slow_statement_mean_ms == 1000 and t.rto_min == 30
    assert t.request_rate_min == pytest.approx(100 / 60, abs=0.01)
    assert inv.alertmanager is not None
    assert inv.alertmanager.url == "http://monitoring.allodoc.com:9093"


def test_spherosegv4_facts() -> None:
    inv = _load("spherosegv4")
    assert _http(inv, "ml-health").url == "http://localhost:5002/health"
    assert _http(inv, "backend-health").url == "https://api.your-domain.com/health"
    assert _http(inv, "frontend").url == "https://your-domain.com/"
    assert "/spheroseg" in inv.postgres[0].dsn
    assert inv.docker is not None and "ml" in inv.docker.services
    assert inv.backups[0].pattern == "spheroseg_backup_*.sql.gz"
    assert inv.thresholds.long_query_s == 300
    assert inv.thresholds.idle_in_transaction_s == 600


def test_regulatory_assistant_facts() -> None:
    inv = _load("regulatory-assistant")
    assert _http(inv, "backend-database").url == "https://your-domain.com:8000/health/database"
    assert _http(inv, "backend-redis").url == "https://your-domain.com:8000/health/redis"
    assert _http(inv, "frontend-health").url == "https://your-domain.com/api/health"
    assert _http(inv, "nginx-health").url == "https://your-domain.com/health"
    assert inv.thresholds.latency_p95_ms == 2000
    assert inv.thresholds.error_rate_max == 0.01
    assert "/medical_device_assistant" in inv.postgres[0].dsn
    assert inv.cert_files[0].key is not None and inv.cert_files[0].key.endswith("key.pem")
    assert inv.backups[0].restore is not None
    assert inv.backups[0].restore.min_rows == {"users": 1, "projects": 1}


def test_every_example_is_covered() -> None:
    """A new example-*.yml must join SYSTEMS (and get a coverage table)."""
    found = {p.stem.removeprefix("example-") for p in ENVIRONMENTS.glob("example-*.yml")}
    assert found == set(SYSTEMS)
