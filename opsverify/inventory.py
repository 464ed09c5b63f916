"""Environment inventory: YAML -> validated model, ``${VAR}`` secrets, one-line errors.

The inventory is the contract between an environment and the checks (see DESIGN.md). Every
section is optional; unknown keys are errors because a typo must never silently disable a
check. Values read through ``${VAR}`` are secrets and are registered for redaction.

>>> inv = Inventory.model_validate({"environment": "demo"})
>>> inv.threshold("latency_p95_ms")
500.0
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from opsverify import redact
from opsverify.errors import InventoryError

MAX_INVENTORY_BYTES = 1024 * 1024
MAX_YAML_ALIASES = 100
MAX_YAML_DEPTH = 64
MAX_EXPANDED_NODES = 100_000
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_VAR_RE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_SIZE_RE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)i?b?\s*$", re.I)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


# --------------------------------------------------------------------------------- helpers
def parse_size(value: int | str) -> int:
    """Parse ``10g``, ``512m``, ``1.5GiB`` or a plain byte count into bytes.

    >>> parse_size("10g")
    10737418240
    """
    if isinstance(value, bool):
        raise ValueError("expected a size such as 10g or 512m")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative")
        return value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"'{value}' is not a size such as 10g, 512m or 1048576")
    return int(float(m.group("num")) * _UNITS[m.group("unit").lower()])


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    # An inline password (https://user:pw@host, as typed and percent-decoded, as clients send
    # it) is a secret wherever it appears, for every URL field, not only DSNs.
    redact.register_from_text(value)
    parts = urlsplit(value)
    if parts.password:
        redact.add_secret(unquote(parts.password))
    if parts.scheme not in schemes:
        raise ValueError(f"'{redact.redact_text(value)}' must start with one of "
                         + ", ".join(f"{s}://" for s in schemes))
    if parts.scheme not in ("unix",) and not parts.hostname:
        raise ValueError(f"'{redact.redact_text(value)}' has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on an out-of-range port
    except ValueError as exc:
        raise ValueError(f"'{redact.redact_text(value)}' has an invalid port") from exc
    return value


class _Model(BaseModel):
    """Strict base: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _Named(_Model):
    """An inventory item whose ``name`` becomes the pytest id and the Allure parameter."""

    name: str

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                f"'{v}' is not a valid name (letters, digits, '-', '_', '.'; at most 63)"
            )
        return v

    def __repr__(self) -> str:  # never show fields: they may hold secrets
        return f"<{type(self).__name__} {self.name}>"

    __str__ = __repr__


def _unique_names(items: list[_Named], section: str) -> list[Any]:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"duplicate name '{item.name}' in {section}")
        seen.add(item.name)
    return items


# --------------------------------------------------------------------------------- sections
class Thresholds(_Model):
    """Limits used by the checks; defaults come from the runbooks."""

    timeout_s: float = Field(10, gt=0, le=600)
    disk_used_max_pct: float = Field(90, gt=0, le=100)
    disk_warn_pct: float = Field(80, gt=0, le=100)
    inode_used_max_pct: float = Field(90, gt=0, le=100)
    memory_used_max_pct: float = Field(85, gt=0, le=100)
    load_per_core_max: float = Field(2.0, gt=0)
    cert_warn_days: int = Field(30, ge=0, le=3650)
    cert_fail_days: int = Field(7, ge=0, le=3650)
    latency_p95_ms: float = Field(500, gt=0)
    error_rate_max: float = Field(0.01, ge=0, le=1)
    backup_max_age_h: float = Field(24, gt=0)
    db_connections_max_pct: float = Field(80, gt=0, le=100)
    long_query_s: float = Field(300, gt=0)
    idle_in_transaction_s: float = Field(300, gt=0)
    lock_wait_s: float = Field(30, gt=0)
    xid_age_max_pct: float = Field(50, gt=0, le=100)
    cache_hit_ratio_min: float = Field(0.90, ge=0, le=1)
    vacuum_max_age_days: float = Field(7, gt=0)
    db_growth_max_pct: float = Field(20, gt=0)
    db_growth_min_mb: float = Field(100, ge=0)
    replication_lag_s: float = Field(60, gt=0)
    replication_lag_mb: float = Field(1024, gt=0)
    redis_memory_max_pct: float = Field(90, gt=0, le=100)
    redis_hit_rate_min: float = Field(0.8, ge=0, le=1)
    redis_hit_rate_min_lookups: int = Field(1000, ge=1)
    redis_evictions_max: int = Field(0, ge=0)
    redis_rejected_connections_max: int = Field(0, ge=0)
    redis_last_save_max_age_h: float = Field(24, gt=0)
    redis_ping_max_ms: float = Field(50, gt=0)
    redis_slowlog_max: int = Field(10, ge=0)
    redis_fragmentation_max: float = Field(3.0, gt=0)
    redis_clients_max_pct: float = Field(80, gt=0, le=100)
    restart_count_max: int = Field(3, ge=0)
    container_memory_max_pct: float = Field(90, gt=0, le=100)
    container_cpu_max_pct: float = Field(90, gt=0)
    log_file_max_mb: float = Field(100, gt=0)
    log_errors_max: int = Field(50, ge=0)
    failed_logins_max: int = Field(20, ge=0)
    suspicious_requests_max: int = Field(0, ge=0)
    unexpected_writes_max: int = Field(0, ge=0)
    availability_min_pct: float = Field(99.9, gt=0, le=100)
    slow_statement_mean_ms: float = Field(1000, gt=0)
    backup_size_drop_pct: float = Field(50, gt=0, le=100)
    rto_min: float = Field(30, gt=0)
    request_rate_min: float = Field(0, ge=0)
    latency_regression_pct: float = Field(20, gt=0)
    latency_regression_min_ms: float = Field(10, ge=0)
    probe_requests: int = Field(50, ge=1, le=10000)
    probe_concurrency: int = Field(5, ge=1, le=64)
    probe_time_cap_s: float = Field(30, gt=0, le=600)
    hsts_min_age_s: int = Field(31536000, ge=0)
    secret_min_length: int = Field(32, ge=1)
    wal_archive_max_age_s: float = Field(3600, gt=0)  # RPO of the transaction logs

    @model_validator(mode="after")
    def _tiers(self) -> Thresholds:
        if self.cert_fail_days > self.cert_warn_days:
            raise ValueError(
                f"cert_fail_days ({self.cert_fail_days}) must not exceed "
                f"cert_warn_days ({self.cert_warn_days})"
            )
        if self.disk_warn_pct > self.disk_used_max_pct:
            raise ValueError(
                f"disk_warn_pct ({self.disk_warn_pct:g}) must not exceed "
                f"disk_used_max_pct ({self.disk_used_max_pct:g})"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _warn_tier_follows_fail_tier(cls, data: Any) -> Any:
        """A fail tier lowered below the default warning tier (80 %) takes the warning tier
        with it, unless that is set too: an error about a key the user never wrote helps no
        one."""
        if isinstance(data, dict) and "disk_warn_pct" not in data:
            fail = data.get("disk_used_max_pct")
            if isinstance(fail, int | float) and not isinstance(fail, bool):
                default = cls.model_fields["disk_warn_pct"].default
                if fail < default:
                    return {**data, "disk_warn_pct": fail}
        return data


THRESHOLD_NAMES = frozenset(Thresholds.model_fields)
# Item fields that override a threshold under a shorter name (backups: max_age_h).
_ITEM_OVERRIDES = {"backup_max_age_h": "max_age_h"}


class HttpEndpoint(_Named):
    url: str
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: int = Field(200, ge=100, le=599)
    expect_json: dict[str, Any] | None = None
    expect_headers: dict[str, str] | None = None
    expect_body: str | None = None
    expect_metrics: list[str] | None = None
    latency_p95_ms: float | None = Field(None, gt=0)
    error_rate_max: float | None = Field(None, ge=0, le=1)
    timeout_s: float | None = Field(None, gt=0, le=600)
    ca_file: str | None = None
    resolve: str | None = None
    accepts_upload: int | None = None
    version: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("http", "https"))

    @field_validator("resolve")
    @classmethod
    def _resolve(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.ip_address(v)
        return v

    @field_validator("accepts_upload", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return None if v is None else parse_size(v)

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def origin(self) -> str:
        """``scheme://host:port`` without ``user:password@`` (an origin has no userinfo,
        RFC 6454): origins name targets, test ids and report titles, which are not redacted."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class TlsEndpoint(_Named):
    host: str
    port: int = Field(443, ge=1, le=65535)
    server_name: str | None = None
    ca_file: str | None = None
    starttls: Literal["postgres"] | None = None
    # plain-HTTP port of the same site: it must redirect to HTTPS (tls HTTPS hygiene checks)
    http_port: int | None = Field(None, ge=1, le=65535)

    @property
    def sni(self) -> str:
        return self.server_name or self.host


class CertFile(_Model):
    path: str
    key: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or Path(self.path).name

    def __repr__(self) -> str:
        return f"<CertFile {self.label}>"


class Migrations(_Model):
    """Where the schema revision is recorded and which revision the deploy expects."""

    table: str = "alembic_version"
    column: str = "version_num"
    expect: str | list[str]

    @field_validator("table", "column")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$", v):
            raise ValueError(f"'{v}' is not a plain SQL identifier (schema.table or table)")
        return v

    @field_validator("expect")
    @classmethod
    def _expect(cls, v: str | list[str]) -> str | list[str]:
        if not v or (isinstance(v, list) and not all(x.strip() for x in v)):
            raise ValueError("must name the expected revision(s)")
        return v

    @property
    def expected(self) -> list[str]:
        return sorted([self.expect] if isinstance(self.expect, str) else set(self.expect))


class Postgres(_Named):
    dsn: str
    restore_dsn: str | None = None
    superusers: list[str] = Field(default_factory=lambda: ["postgres"])
    require_ssl: bool = False
    # expected streaming replicas: a count, or the application_names they connect with
    replicas: int | list[str] | None = None
    wal_archive: bool = False  # the server must archive WAL (point-in-time recovery, RPO)
    wal_archive_max_age_s: float | None = Field(None, gt=0)
    migrations: Migrations | None = None

    @field_validator("dsn", "restore_dsn")
    @classmethod
    def _dsn(cls, v: str | None) -> str | None:
        if v is None:
            return v
        redact.register_from_text(v)
        if "://" in v:
            return _check_url(v, ("postgresql", "postgres"))
        if "=" not in v:
            raise ValueError("is neither a postgresql:// URL nor a key=value DSN")
        return v

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, v: int | list[str] | None) -> int | list[str] | None:
        if isinstance(v, int) and v < 0:
            raise ValueError("must not be negative")
        if isinstance(v, list):
            if not v or any(not n.strip() for n in v):
                raise ValueError("lists application_names: none may be empty")
            if len(set(v)) != len(v):
                raise ValueError("names a replica twice")
        return v


class Redis(_Named):
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        redact.register_from_text(v)
        return _check_url(v, ("redis", "rediss", "unix"))


class LogPattern(_Named):
    """A log line pattern with a limit (runbook: ``logs backend | grep -i "rate limit"``)."""

    pattern: str
    max: int = Field(0, ge=0)
    services: list[str] = Field(default_factory=list)  # empty: every docker service

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"'{v}' is not a valid regular expression: {exc}") from None
        return v


class Docker(_Model):
    url: str = "unix:///var/run/docker.sock"
    project: str | None = None
    services: list[str] = Field(default_factory=list)
    one_shot: list[str] = Field(default_factory=list)
    allow_root: list[str] = Field(default_factory=list)
    allow_privileged: list[str] = Field(default_factory=list)
    log_patterns: list[LogPattern] = Field(default_factory=list)
    allow_capabilities: dict[str, list[str]] = Field(default_factory=dict)
    allow_writable_rootfs: list[str] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("unix", "tcp", "ssh", "http", "https"))


class RequiredFile(_Model):
    """A file that must exist on the host (a model checkpoint, a licence), optionally with a
    minimum size (a truncated copy exists but is useless)."""

    path: str
    min_size: int | None = None

    @field_validator("min_size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return None if v is None else parse_size(v)


class SecurityUpdates(_Model):
    """Pending OS security updates are checked on this host (apt: Debian, Ubuntu)."""

    manager: Literal["apt"] = "apt"
    root: str = "/"  # the system apt reads: / or a chroot / image root mounted elsewhere
    lists_max_age_days: float = Field(7, gt=0)  # older package lists cannot tell what is pending

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"'{v}' must be an absolute path")
        return v


class Host(_Named):
    target: str = "local://"
    ssh_config: str | None = None
    mounts: list[str] = Field(default_factory=lambda: ["/"])
    env_files: list[str] = Field(default_factory=list)
    log_dirs: list[str] = Field(default_factory=list)
    service_user: str | None = None
    nginx_conf: str | None = None
    nginx_directives: list[str] = Field(default_factory=list)
    min_free: dict[str, int] = Field(default_factory=dict)  # path -> bytes that must stay free
    required_files: list[RequiredFile] = Field(default_factory=list)
    security_updates: SecurityUpdates | None = None

    @field_validator("min_free", mode="before")
    @classmethod
    def _min_free(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): parse_size(x) for k, x in v.items()}
        return v

    @field_validator("required_files", mode="before")
    @classmethod
    def _required_files(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"path": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError(f"'{v}' must be a testinfra target such as local:// or ssh://host")
        redact.register_from_text(v)
        return v


class Restore(_Model):
    postgres: str
    min_rows: dict[str, int] = Field(default_factory=dict)
    jobs: int = Field(2, ge=1, le=16)


class Retention(_Model):
    daily: int = Field(0, ge=0)
    weekly: int = Field(0, ge=0)
    monthly: int = Field(0, ge=0)


class Backup(_Named):
    path: str
    pattern: str
    format: Literal["pg_plain_gz", "pg_plain", "pg_custom", "tar_gz"] = "pg_plain_gz"
    max_age_h: float | None = Field(None, gt=0)
    min_size: int | None = None
    checksums: str | None = None
    restore: Restore | None = None
    retention: Retention | None = None
    mirror: str | None = None
    expect_paths: list[str] = Field(default_factory=list)  # tar_gz: members that must exist

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        # "database_*.sql.gz" (files in path) or "*/database.sql" (one folder per day)
        parts = v.split("/")
        if len(parts) > 2 or not all(parts):
            raise ValueError(f"'{v}' must be a file pattern ('database_*.sql.gz') or one "
                             "folder level and a file pattern ('*/database.sql')")
        return v

    @field_validator("min_size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return None if v is None else parse_size(v)


class Prometheus(_Model):
    url: str
    queries: dict[str, str] = Field(default_factory=dict)
    expect_rules: list[str] = Field(default_factory=list)
    availability_window: str = "30d"

    @field_validator("availability_window")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", v):
            raise ValueError(f"'{v}' is not a Prometheus duration such as 30d, 12h or 5m")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("http", "https"))


class Alertmanager(_Model):
    url: str
    fail_severity: str = "critical"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("http", "https"))


class ClosedPort(_Model):
    """A TCP port that must NOT accept connections (``host:port`` string or a mapping)."""

    port: int = Field(ge=1, le=65535)
    host: str = "127.0.0.1"
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.host}:{self.port}"


class DefaultCredential(_Model):
    user: str
    password: str
    url: str | None = None
    postgres: str | None = None
    redis: str | None = None
    # url logins: how the login is sent and what proves it succeeded (never "any 200")
    kind: Literal["basic", "form", "json", "grafana"] = "basic"
    user_field: str | None = None
    password_field: str | None = None
    success_cookie: str | None = None
    success_marker: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> DefaultCredential:
        given = [k for k in ("url", "postgres", "redis") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of url, postgres, redis")
        extras = [k for k in ("user_field", "password_field", "success_cookie", "success_marker")
                  if getattr(self, k)]
        if not self.url and (self.kind != "basic" or extras):
            raise ValueError(f"kind and {', '.join(extras) or 'login fields'} apply to url "
                             "logins only")
        if self.kind == "basic" and extras:
            raise ValueError(f"{', '.join(extras)}: only for kind form, json or grafana")
        if self.kind == "json" and not (self.success_cookie or self.success_marker):
            raise ValueError("kind json needs success_cookie or success_marker (a 200 alone "
                             "does not prove a login)")
        return self


class VulnReport(_Model):
    path: str
    format: Literal["trivy", "npm-audit"] = "trivy"
    fail_severity: Literal["critical", "high", "medium", "low"] = "high"


DEFAULT_FORBIDDEN_PATHS = ["/.env", "/.git/config", "/.git/HEAD", "/server-status", "/backup.sql"]
DEFAULT_REQUIRED_HEADERS = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Referrer-Policy",
]


class Security(_Model):
    forbidden_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_PATHS))
    listing_paths: list[str] = Field(default_factory=list)
    required_headers: list[str] = Field(default_factory=lambda: list(DEFAULT_REQUIRED_HEADERS))
    default_credentials: list[DefaultCredential] = Field(default_factory=list)
    vulnerability_reports: list[VulnReport] = Field(default_factory=list)
    access_logs: list[str] = Field(default_factory=list)
    closed_ports: list[ClosedPort] = Field(default_factory=list)
    write_paths: list[str] | None = None

    @field_validator("closed_ports", mode="before")
    @classmethod
    def _host_port(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        out = []
        for x in v:
            if isinstance(x, str):
                host, sep, port = x.rpartition(":")
                if not sep or not port.isdigit():
                    raise ValueError(f"'{x}' is not host:port (e.g. 127.0.0.1:5432)")
                x = {"host": host.strip("[]") or "127.0.0.1", "port": int(port)}
            out.append(x)
        return out

    @field_validator("forbidden_paths", "listing_paths", "write_paths")
    @classmethod
    def _paths(cls, v: list[str] | None) -> list[str] | None:
        for p in v or []:
            if not p.startswith("/"):
                raise ValueError(f"'{p}' must be a URL path starting with '/'")
        return v


class Inventory(_Model):
    """A whole environment. ``source`` and ``sha256`` describe the file it came from."""

    environment: str = "unnamed"
    description: str | None = None
    env_file: str | None = None
    history_dir: str | None = None
    thresholds: Thresholds = Field(default_factory=Thresholds)
    http: list[HttpEndpoint] = Field(default_factory=list)
    tls: list[TlsEndpoint] = Field(default_factory=list)
    cert_files: list[CertFile] = Field(default_factory=list)
    postgres: list[Postgres] = Field(default_factory=list)
    redis: list[Redis] = Field(default_factory=list)
    docker: Docker | None = None
    hosts: list[Host] = Field(default_factory=list)
    backups: list[Backup] = Field(default_factory=list)
    prometheus: Prometheus | None = None
    alertmanager: Alertmanager | None = None
    security: Security | None = None

    source: str = Field("<memory>", exclude=True)
    sha256: str = Field("", exclude=True)

    def __repr__(self) -> str:  # never show fields: they may hold secrets
        return f"<Inventory {self.environment} from {self.source}>"

    __str__ = __repr__

    @field_validator("cert_files", mode="before")
    @classmethod
    def _cert_files(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"path": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("http", "tls", "postgres", "redis", "hosts", "backups")
    @classmethod
    def _unique(cls, v: list[Any], info: Any) -> list[Any]:
        return _unique_names(v, info.field_name)

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        pg_names = {p.name for p in self.postgres}
        for i, b in enumerate(self.backups):
            if b.restore and b.restore.postgres not in pg_names:
                raise ValueError(
                    f"backups[{i}] ({b.name}).restore.postgres: '{b.restore.postgres}' is not "
                    f"a postgres item (declared: {', '.join(sorted(pg_names)) or 'none'})"
                )
        redis_names = {r.name for r in self.redis}
        if self.security:
            for i, c in enumerate(self.security.default_credentials):
                if c.postgres and c.postgres not in pg_names:
                    raise ValueError(
                        f"security.default_credentials[{i}].postgres: '{c.postgres}' is not a "
                        "postgres item"
                    )
                if c.redis and c.redis not in redis_names:
                    raise ValueError(
                        f"security.default_credentials[{i}].redis: '{c.redis}' is not a redis item"
                    )
        return self

    # --------------------------------------------------------------------------- accessors
    def threshold(self, name: str, item: BaseModel | None = None) -> float:
        """The threshold ``name``: the item's own override if it has one, else the
        environment's, else the runbook default."""
        if name not in THRESHOLD_NAMES:
            raise KeyError(f"unknown threshold '{name}'")
        if item is not None:
            for field in (name, _ITEM_OVERRIDES.get(name, name)):
                override = getattr(item, field, None)
                if isinstance(override, int | float) and not isinstance(override, bool):
                    return float(override)
        return float(getattr(self.thresholds, name))

    def postgres_by_name(self, name: str) -> Postgres:
        for p in self.postgres:
            if p.name == name:
                return p
        raise KeyError(name)

    def redis_by_name(self, name: str) -> Redis:
        for r in self.redis:
            if r.name == name:
                return r
        raise KeyError(name)

    def resolve_path(self, path: str) -> Path:
        """A local file named in the inventory, relative to the inventory's folder."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source.startswith("<"):
            return p
        return Path(self.source).parent / p

    def section_declared(self, section: str) -> bool:
        value = getattr(self, section, None)
        return bool(value)


# --------------------------------------------------------------------------------- loading
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and alias bombs."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (line {mark.line + 1}): "
                    "refusing a possible alias bomb"
                )
        # The composer recurses once per nesting level: "[[[[..." 100,000 deep would end in a
        # RecursionError traceback instead of a one-line error.
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels deep (line "
                                     f"{mark.line + 1}): not a configuration file")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                m = key_node.start_mark
                raise yaml.YAMLError(
                    f"duplicate key '{key}' at line {m.line + 1}, column {m.column + 1}"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(data: Any) -> int:
    """Number of values once aliases are expanded, counted without expanding them."""
    memo: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key not in memo:
            memo[key] = 0  # a self-referencing alias counts once
            children = node.values() if isinstance(node, dict) else node
            memo[key] = 1 + sum(size(c) for c in children)
        return memo[key]

    return size(data)


def _read_env_file(path: Path, file: str) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(file, "env_file", f"cannot read {path}: {exc.strerror}") from None
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:]
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip("'\"")
    return out


def _interpolate(data: Any, env: dict[str, str], file: str, path: str = "") -> Any:
    if isinstance(data, dict):
        return {k: _interpolate(v, env, file, f"{path}.{k}" if path else str(k))
                for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, env, file, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group("name"), m.group("default")
            if name in env:
                value = env[name]
            elif default is not None:
                value = default
            else:
                raise InventoryError(file, path, f"environment variable {name} is not set")
            redact.add_secret(value)
            return value

        return _VAR_RE.sub(sub, data)
    return data


def _loc(loc: tuple[Any, ...], data: Any, label: str = "name") -> str:
    """``('http', 0, 'url')`` -> ``http[0] (backend-health).url``; list items are named by
    their ``label`` field so the error points at the item the user wrote."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            try:
                node = node[part]
                if isinstance(node, dict) and isinstance(node.get(label), str):
                    out += f" ({node[label]})"
            except (IndexError, KeyError, TypeError):
                node = None
        else:
            if part in ("function-after", "function-before") or str(part).startswith("function-"):
                continue
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Inventory
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or (ann,)
        nxt = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            for a in args:
                inner = getattr(a, "__args__", ())
                nxt = next((x for x in inner if isinstance(x, type) and issubclass(x, BaseModel)),
                           None)
                if nxt:
                    break
        if nxt is None:
            return []
        model = nxt
    return [k for k in getattr(model, "model_fields", {}) if k not in ("source", "sha256")]


def _first_error(exc: ValidationError, data: Any) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err.get("loc", ()))
    key = _loc(loc, data)
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "extra_forbidden":
        allowed = _allowed_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return key, f"unknown key{hint}; allowed: {', '.join(allowed)}"
    if err.get("type") == "missing":
        return key, "required key is missing"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err.get("type") in ("int_parsing", "float_parsing", "bool_parsing", "string_type",
                           "dict_type", "list_type", "int_type", "float_type", "model_type"):
        got = err.get("input")
        shown = type(got).__name__ if not isinstance(got, str) else f"'{redact.redact_text(got)}'"
        msg = f"{msg} (got {shown})"
    return key, redact.redact_text(msg)


def load_inventory(
    path: str | os.PathLike[str], environ: dict[str, str] | None = None
) -> Inventory:
    """Load and validate an inventory file; raise :class:`InventoryError` on any problem."""
    p = Path(path)
    file = str(path)
    try:
        raw = p.read_bytes()[: MAX_INVENTORY_BYTES + 1]
    except FileNotFoundError:
        raise InventoryError(file, "", "inventory file not found") from None
    except IsADirectoryError:
        raise InventoryError(file, "", "is a directory, not an inventory file") from None
    except OSError as exc:
        raise InventoryError(file, "", f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_INVENTORY_BYTES:
        raise InventoryError(file, "", f"larger than {MAX_INVENTORY_BYTES // 1024} KiB: "
                                       "not an inventory")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InventoryError(file, "", f"not valid UTF-8 (byte {exc.start}, line {line})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise InventoryError(file, "", f"YAML syntax error at {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(file, "", f"YAML error: {exc}") from None
    if data is None:
        raise InventoryError(file, "", "inventory is empty (expected at least 'environment:')")
    if not isinstance(data, dict):
        raise InventoryError(file, "", f"top level must be a mapping of sections, "
                                       f"got {type(data).__name__}")
    if _expanded_size(data) > MAX_EXPANDED_NODES:
        raise InventoryError(file, "", f"expands to more than {MAX_EXPANDED_NODES} values "
                                       "(YAML aliases): refusing a possible alias bomb")
    env = dict(os.environ if environ is None else environ)
    env_file = data.get("env_file")
    if isinstance(env_file, str) and env_file:
        ef = Path(env_file)
        if not ef.is_absolute():
            ef = p.parent / ef
        for k, v in _read_env_file(ef, file).items():
            env.setdefault(k, v)
    data = _interpolate(data, env, file)
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as exc:
        key, problem = _first_error(exc, data)
        raise InventoryError(file, key, problem) from None
    return inv.model_copy(update={"source": str(p.resolve()),
                                  "sha256": hashlib.sha256(raw).hexdigest()})
