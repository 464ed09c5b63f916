"""The inventory contract: valid files load, broken ones give one clear line and exit 4."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from opsverify import redact
from opsverify.errors import InventoryError
from opsverify.inventory import load_inventory, parse_size

VALID = """
environment: production
description: DICOM viewer
thresholds: {timeout_s: 5, cert_warn_days: 30, cert_fail_days: 7}
http:
  - name: backend-health
    url: https://app.example.test:8443/api/health
    expect_json: {status: healthy}
    latency_p95_ms: 300
    resolve: 127.0.0.1
  - name: upload
    url: https://app.example.test:8443/api/upload
    accepts_upload: 10g
tls:
  - {name: frontend, host: 127.0.0.1, port: 8443, server_name: app.example.test}
cert_files: [ssl/nginx.crt]
postgres:
  - {name: main, dsn: "${PG_DSN}", superusers: [postgres]}
redis:
  - {name: cache, url: "${REDIS_URL:-redis://:defaultpw1@127.0.0.1:6379/0}"}
docker: {url: "unix:///var/run/docker.sock", project: app, services: [backend]}
hosts:
  - {name: app1, target: "local://", mounts: [/, /var]}
backups:
  - name: database
    path: /opt/backups
    pattern: "database_*.sql.gz"
    restore: {postgres: main, min_rows: {users: 1}}
    retention: {daily: 30, weekly: 12, monthly: 12}
prometheus: {url: "http://127.0.0.1:9090"}
alertmanager: {url: "http://127.0.0.1:9093"}
security:
  forbidden_paths: [/.env]
  default_credentials:
    - {url: "http://127.0.0.1:3000/api/user", user: admin, password: admin}
"""

ENV = {"PG_DSN": "postgresql://monitor:s3cretPgPass@127.0.0.1:5432/app"}


def write(tmp_path: Path, text: str, name: str = "inv.yml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_valid_inventory_loads_with_defaults_and_overrides(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID), environ=ENV)
    assert inv.environment == "production"
    assert inv.threshold("latency_p95_ms") == 500
    assert inv.threshold("latency_p95_ms", inv.http[0]) == 300
    assert inv.threshold("timeout_s") == 5
    assert inv.http[1].accepts_upload == 10 * 1024**3
    assert inv.cert_files[0].path == "ssl/nginx.crt"
    assert inv.resolve_path("ssl/nginx.crt") == tmp_path / "ssl/nginx.crt"
    assert len(inv.sha256) == 64


def test_interpolated_values_are_secrets(tmp_path: Path) -> None:
    load_inventory(write(tmp_path, VALID), environ=ENV)
    assert "s3cretPgPass" in redact.secrets_known()
    assert "defaultpw1" in redact.secrets_known()
    assert "s3cretPgPass" not in redact.redact_text(ENV["PG_DSN"])


def test_repr_of_items_never_shows_fields(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID), environ=ENV)
    assert "s3cret" not in repr(inv.postgres[0]) and "s3cret" not in repr(inv)


def test_env_file_supplies_unset_variables(tmp_path: Path) -> None:
    (tmp_path / "vars.env").write_text("PG_DSN=postgresql://m:fromfile9@127.0.0.1/app\n")
    inv = load_inventory(write(tmp_path, "env_file: vars.env\n" + VALID), environ={})
    assert "fromfile9" in inv.postgres[0].dsn


def test_sizes() -> None:
    assert parse_size("512m") == 512 * 1024**2
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    with pytest.raises(ValueError):
        parse_size("lots")


# (case id, yaml text, expected key path fragment, expected problem fragment)
MALFORMED = [
    ("wrong-type-threshold", "thresholds: {timeout_s: soon}", "thresholds.timeout_s", "number"),
    ("unknown-top-key", "environmnet: prod", "environmnet", "did you mean 'environment'"),
    ("unknown-item-key", "http: [{name: a, url: 'http://x.test/', expect_stauts: 200}]",
     "http[0] (a).expect_stauts", "did you mean 'expect_status'"),
    ("missing-variable", "postgres: [{name: m, dsn: '${NOPE_DSN}'}]", "postgres[0].dsn",
     "NOPE_DSN is not set"),
    ("bad-url-scheme", "http: [{name: a, url: 'ftp://x.test/'}]", "http[0] (a).url",
     "must start with"),
    ("url-without-host", "http: [{name: a, url: 'http:///x'}]", "http[0] (a).url", "no host"),
    ("bad-port-in-url", "http: [{name: a, url: 'http://x.test:99999/'}]", "http[0] (a).url",
     "invalid port"),
    ("bad-tls-port", "tls: [{name: t, host: x, port: 70000}]", "tls[0] (t).port", "65535"),
    ("negative-threshold", "thresholds: {timeout_s: -1}", "thresholds.timeout_s", "greater than"),
    ("pct-out-of-range", "thresholds: {disk_used_max_pct: 120}", "thresholds.disk_used_max_pct",
     "less than or equal to 100"),
    ("cert-tiers-inverted", "thresholds: {cert_warn_days: 5, cert_fail_days: 10}", "thresholds",
     "must not exceed"),
    ("duplicate-names", "http: [{name: a, url: 'http://x.test/'}, {name: a, url: 'http://y.test/'}]",
     "http", "duplicate name 'a'"),
    ("missing-required", "http: [{name: a}]", "http[0] (a).url", "required key is missing"),
    ("section-not-a-list", "http: {name: a}", "http", "list"),
    ("bad-name", "redis: [{name: 'my cache', url: 'redis://x.test/'}]", "redis[0]", "valid name"),
    ("bad-redis-url", "redis: [{name: c, url: 'http://x.test/'}]", "redis[0] (c).url",
     "must start with one of redis://"),
    ("bad-enum", "backups: [{name: b, path: /x, pattern: '*', format: zip}]",
     "backups[0] (b).format", "pg_plain_gz"),
    ("dangling-restore-ref",
     "backups: [{name: b, path: /x, pattern: '*', restore: {postgres: nope}}]", "",
     "'nope' is not a postgres item"),
    ("bad-resolve-ip", "http: [{name: a, url: 'http://x.test/', resolve: 'not-an-ip'}]",
     "http[0] (a).resolve", "IP"),
    ("bad-size", "http: [{name: a, url: 'http://x.test/', accepts_upload: huge}]",
     "http[0] (a).accepts_upload", "not a size"),
    ("yaml-syntax", "http: [{name: a, url: 'http://x.test/'", "", "YAML syntax error at line"),
    ("yaml-duplicate-key", "environment: a\nenvironment: b", "", "duplicate key 'environment'"),
    ("top-level-list", "- a\n- b", "", "top level must be a mapping"),
    ("empty-file", "", "", "inventory is empty"),
    ("default-credential-two-targets",
     "security: {default_credentials: [{url: 'http://x.test/', redis: c, user: a, password: b}]}",
     "security.default_credentials[0]", "exactly one of"),
    ("relative-forbidden-path", "security: {forbidden_paths: ['.env']}",
     "security.forbidden_paths", "starting with '/'"),
]


@pytest.mark.parametrize(("text", "key", "problem"), [c[1:] for c in MALFORMED],
                         ids=[c[0] for c in MALFORMED])
def test_malformed_inventory_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path, environ={})
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert key in message
    assert problem in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory file not found"):
        load_inventory(tmp_path / "nope.yml")
    with pytest.raises(InventoryError, match="is a directory"):
        load_inventory(tmp_path)


def test_non_utf8_and_oversized_and_alias_bomb(tmp_path: Path) -> None:
    bad = tmp_path / "bin.yml"
    bad.write_bytes(b"environment: \xff\xfe\n")
    with pytest.raises(InventoryError, match="not valid UTF-8"):
        load_inventory(bad)
    big = tmp_path / "big.yml"
    big.write_text("description: " + "x" * (2 * 1024 * 1024))
    with pytest.raises(InventoryError, match="larger than"):
        load_inventory(big)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    with pytest.raises(InventoryError, match="alias"):
        load_inventory(write(tmp_path, bomb, "bomb.yml"))


@pytest.mark.parametrize(("text", "key", "problem"), [c[1:] for c in MALFORMED],
                         ids=[c[0] for c in MALFORMED])
def test_cli_exits_4_with_one_line_and_no_traceback(
    pytester: pytest.Pytester, text: str, key: str, problem: str
) -> None:
    inv = pytester.path / "inv.yml"
    inv.write_text(text)
    result = pytester.runpytest_inprocess("--inventory", str(inv))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith("ERROR: ") and problem in errors[0]
    assert "Traceback" not in "\n".join(result.errlines + result.outlines)


def test_item_overrides_threshold_under_its_short_name(tmp_path: Path) -> None:
    text = VALID.replace("prometheus:", "  - {name: files, path: /x, pattern: '*', max_age_h: 6}\n"
                                        "prometheus:")
    inv = load_inventory(write(tmp_path, text), environ=ENV)
    assert inv.threshold("backup_max_age_h", inv.backups[0]) == 24
    assert inv.threshold("backup_max_age_h", inv.backups[1]) == 6
