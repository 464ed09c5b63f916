"""Generate the key tables of docs/inventory-reference.md from the inventory model itself.

Types, defaults and limits come from the pydantic fields of :mod:`opsverify.inventory`, so the
reference cannot drift from the contract; the meaning of each key is written here, once.
``tests/reference/test_inventory_reference.py`` fails when a key has no meaning yet or when the
document is older than the model. Refresh the document with

    .venv/bin/python -m tests.reference.inventory_doc --write
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from opsverify import inventory as inv

DOC = Path(__file__).resolve().parents[2] / "docs" / "inventory-reference.md"
BEGIN = "<!-- BEGIN GENERATED: python -m tests.reference.inventory_doc --write -->"
END = "<!-- END GENERATED -->"
HIDDEN = {("Inventory", "source"), ("Inventory", "sha256")}
# Integer fields parsed by ``parse_size``: YAML may say ``10g`` as well as a byte count.
SIZE_FIELDS = {("HttpEndpoint", "accepts_upload"), ("Backup", "min_size"),
               ("RequiredFile", "min_size")}

# (model, key) -> meaning. Keep each one sentence or two: what it is, who reads it.
MEANINGS: dict[tuple[str, str], str] = {
    # ----------------------------------------------------------------- top level
    ("Inventory", "environment"): "Name shown in every report, result and the Allure environment "
    "tab (`production`, `staging`).",
    ("Inventory", "description"): "Free text shown in the report header.",
    ("Inventory", "env_file"): "A `KEY=value` file (relative to the inventory) from which "
    "`${VAR}`s missing from the process environment are read; the file must exist.",
    ("Inventory", "history_dir"): "Where measurements are kept between runs for checks that "
    "judge change (database growth, evictions since the previous run); relative to the "
    "inventory. Default `reports/history/<environment>` under the project root.",
    ("Inventory", "thresholds"): "Limits for the whole environment; see [thresholds](#thresholds).",
    ("Inventory", "http"): "HTTP(S) endpoints: health, readiness, metrics, upload routes. Read by "
    "health, performance, tls (https items) and security (every distinct HTTPS origin).",
    ("Inventory", "tls"): "TLS endpoints checked for expiry, trust, hostname, key strength, "
    "protocols.",
    ("Inventory", "cert_files"): "Certificates on disk (a path string or a mapping); expiry tiers "
    "and key match.",
    ("Inventory", "postgres"): "PostgreSQL servers: reachability, health, hardening, restore "
    "target.",
    ("Inventory", "redis"): "Redis servers: reachability, memory, persistence, hardening.",
    ("Inventory", "docker"): "One Docker engine and compose project: containers running, healthy, "
    "hardened.",
    ("Inventory", "hosts"): "Machines checked through testinfra: disk, inodes, memory, env files, "
    "log sizes.",
    ("Inventory", "backups"): "Backup sets: freshness, size, integrity, checksums, restore drill, "
    "retention, mirror.",
    ("Inventory", "prometheus"): "Prometheus server: targets up, server-side SLOs.",
    ("Inventory", "alertmanager"): "Alertmanager: no firing alert at or above a severity.",
    ("Inventory", "security"): "Security posture applied to the http origins, postgres, redis, "
    "hosts and docker items already declared.",
    # ----------------------------------------------------------------- thresholds
    ("Thresholds", "timeout_s"): "Per network operation of every probe; a target that does not "
    "answer within it is reported broken.",
    ("Thresholds", "disk_used_max_pct"): "Fail when a mount of a `hosts` item is fuller than this "
    "(runbooks: disk > 90 %).",
    ("Thresholds", "disk_warn_pct"): "Warn tier (minor): a mount fuller than this is reported "
    "(runbooks: warn 80 %); must not exceed `disk_used_max_pct`.",
    ("Thresholds", "load_per_core_max"): "Fail when a host's 1-minute load average divided by "
    "its online CPUs is higher (runbooks: CPU < 80 %; 2.0 = two tasks per core).",
    ("Thresholds", "inode_used_max_pct"): "Fail when a mount has used more inodes than this.",
    ("Thresholds", "memory_used_max_pct"): "Fail when a host uses more memory than this "
    "(runbooks: 85 %, Horalix 80 %).",
    ("Thresholds", "cert_warn_days"): "Warn tier (minor): a certificate expires in fewer days "
    "(runbooks: 30, `openssl x509 -checkend 2592000`).",
    ("Thresholds", "cert_fail_days"): "Fail tier (critical): a certificate expires in fewer days; "
    "must not exceed `cert_warn_days`.",
    ("Thresholds", "latency_p95_ms"): "p95 response time limit of the latency probe and of "
    "single health requests; Prometheus p95 SLO (runbooks: 500 ms or 2 s).",
    ("Thresholds", "error_rate_max"): "Error ratio limit (0.01 = 1 %) of the latency probe and "
    "of the Prometheus 5xx ratio (runbooks: 1 %, alerts at 5 %).",
    ("Thresholds", "backup_max_age_h"): "Newest backup older than this is stale (RPO; "
    "per-backup `max_age_h` overrides).",
    ("Thresholds", "db_connections_max_pct"): "Connections in use as % of `max_connections`. "
    "An absolute limit (\"< 50 connections\") is 50 / max_connections x 100.",
    ("Thresholds", "long_query_s"): "Queries running longer are reported (runbooks: 5 minutes).",
    ("Thresholds", "idle_in_transaction_s"): "Sessions idle in a transaction longer are reported.",
    ("Thresholds", "lock_wait_s"): "Sessions waiting on a lock longer are reported.",
    ("Thresholds", "xid_age_max_pct"): "Oldest unfrozen transaction-ID (and multixact) age of "
    "any database as % of the 2^31 wraparound limit (DB-008). 50 % is five times autovacuum's "
    "own trigger (autovacuum_freeze_max_age, ~9 %) and well before the failsafe (75 %).",
    ("Thresholds", "cache_hit_ratio_min"): "PostgreSQL buffer cache hit ratio floor.",
    ("Thresholds", "vacuum_max_age_days"): "Tables whose last (auto)vacuum/analyze is older "
    "(weekly).",
    ("Thresholds", "db_growth_max_pct"): "Database size growth since the previous run "
    "(DB-009, weekly, stored history) above this % is a finding, if also above "
    "`db_growth_min_mb`.",
    ("Thresholds", "db_growth_min_mb"): "...and by at least this many MB, so 2 MB -> 3 MB on a "
    "small database is not a finding.",
    ("Thresholds", "replication_lag_s"): "Replay lag (pg_stat_replication.replay_lag) of a "
    "replica above this fails DB-010, when the item declares `replicas`.",
    ("Thresholds", "replication_lag_mb"): "WAL written on the primary and not yet replayed by a "
    "replica above this many MB fails DB-010 (default: one max_wal_size, 1 GB).",
    ("Thresholds", "redis_memory_max_pct"): "Redis used memory as % of `maxmemory`.",
    ("Thresholds", "redis_clients_max_pct"): "Redis connected clients as % of `maxclients`.",
    ("Thresholds", "redis_hit_rate_min"): "Redis keyspace hit ratio floor since the previous "
    "run (0 disables).",
    ("Thresholds", "redis_hit_rate_min_lookups"): "Fewer Redis lookups than this since the "
    "previous run: the hit ratio is not judged (skipped).",
    ("Thresholds", "redis_evictions_max"): "Redis keys evicted since the previous run above "
    "this fail (0: the working set must fit in `maxmemory`).",
    ("Thresholds", "redis_rejected_connections_max"): "Connections Redis refused (maxclients "
    "reached) since the previous run above this fail.",
    ("Thresholds", "redis_last_save_max_age_h"): "Hours since the last successful RDB save "
    "with unsaved changes, when `save` points are configured.",
    ("Thresholds", "redis_ping_max_ms"): "Median Redis PING round trip limit (ms).",
    ("Thresholds", "redis_slowlog_max"): "Redis slowlog entries above this are reported.",
    ("Thresholds", "redis_fragmentation_max"): "Redis memory fragmentation ratio limit.",
    ("Thresholds", "restart_count_max"): "A container restarted more often is reported.",
    ("Thresholds", "container_memory_max_pct"): "A container using more of its memory limit "
    "(`docker stats` MEM %, page cache excluded) is reported.",
    ("Thresholds", "container_cpu_max_pct"): "A container using more of its CPU limit "
    "(`--cpus`; `docker stats` CPU % / CPUs) is reported; containers without a limit are listed.",
    ("Thresholds", "log_file_max_mb"): "Log files larger than this in `hosts[].log_dirs` "
    "(runbook: `find /var/log -size +100M`).",
    ("Thresholds", "log_errors_max"): "ERROR/CRITICAL lines in a container's last 24 h of logs.",
    ("Thresholds", "failed_logins_max"): "Failed logins in the last 24 h of the declared logs.",
    ("Thresholds", "suspicious_requests_max"): "Injection-looking requests (`union select`, "
    "`<script`, `../`) tolerated in the access logs.",
    ("Thresholds", "unexpected_writes_max"): "POST/PUT/PATCH/DELETE requests outside "
    "`security.write_paths` tolerated in the access logs over 24 h (runbook 003: none).",
    ("Thresholds", "availability_min_pct"): "Availability objective: share of successful "
    "scrapes of every Prometheus target over `prometheus.availability_window` (runbook 004: "
    "99.9 %).",
    ("Thresholds", "slow_statement_mean_ms"): "Statements slower on average in "
    "`pg_stat_statements` (runbook: mean_time > 1000).",
    ("Thresholds", "backup_size_drop_pct"): "Newest backup smaller than this % of the median of "
    "the previous 7 is a size collapse.",
    ("Thresholds", "rto_min"): "The restore drill must finish within this many minutes "
    "(runbook RTO: 30 min).",
    ("Thresholds", "request_rate_min"): "Prometheus request-rate floor in requests per second "
    "(100 req/min = 1.67); 0 disables.",
    ("Thresholds", "latency_regression_pct"): "Post-deploy: a latency measurement grown by more "
    "than this % over the pre-deploy baseline is a regression.",
    ("Thresholds", "latency_regression_min_ms"): "...and by at least this many ms, so that "
    "2 ms -> 3 ms on an idle system is not a regression.",
    ("Thresholds", "probe_requests"): "Requests per latency burst (per http item).",
    ("Thresholds", "probe_concurrency"): "Concurrent requests of a latency burst.",
    ("Thresholds", "probe_time_cap_s"): "Hard time cap of one latency burst.",
    ("Thresholds", "hsts_min_age_s"): "Minimum `Strict-Transport-Security` max-age (1 year).",
    ("Thresholds", "secret_min_length"): "Secrets (keys) in env files shorter than this are weak.",
    ("Thresholds", "wal_archive_max_age_s"): "RPO of the transaction logs (runbook 002: 1 hour): "
    "a completed WAL segment may wait this long for the archiver, and `archive_timeout` must "
    "not exceed it (BKP-011).",
    # ----------------------------------------------------------------- http
    ("HttpEndpoint", "name"): "Unique id of the item: the pytest id and Allure parameter.",
    ("HttpEndpoint", "url"): "Full `http://` or `https://` URL.",
    ("HttpEndpoint", "method"): "Request method of the health check (`HEAD` for `curl -I`).",
    ("HttpEndpoint", "expect_status"): "Status code the endpoint must answer.",
    ("HttpEndpoint", "expect_json"): "Subset the JSON body must contain (`{status: healthy}`): "
    "a 200 with another status fails.",
    ("HttpEndpoint", "expect_headers"): "Headers that must be present; each value is a substring "
    "the header must contain.",
    ("HttpEndpoint", "expect_body"): "Substring the body must contain.",
    ("HttpEndpoint", "expect_metrics"): "Marks a Prometheus `/metrics` endpoint: it must parse "
    "and contain these metric families.",
    ("HttpEndpoint", "latency_p95_ms"): "Overrides `thresholds.latency_p95_ms` for this item.",
    ("HttpEndpoint", "error_rate_max"): "Overrides `thresholds.error_rate_max` for this item.",
    ("HttpEndpoint", "timeout_s"): "Overrides `thresholds.timeout_s` for this item.",
    ("HttpEndpoint", "ca_file"): "Trust anchor (PEM) for this HTTPS URL; verification is never "
    "silently off.",
    ("HttpEndpoint", "resolve"): "Connect to this IP address but keep the URL's host for SNI, "
    "Host header and certificate name (one node behind a balancer).",
    ("HttpEndpoint", "accepts_upload"): "A request body of this size (`10g`, `512m`) must not be "
    "refused (413); probed without sending the body.",
    ("HttpEndpoint", "version"): "This endpoint reports the deployed version (JSON key "
    "`version`), checked by `--expect-version`.",
    # ----------------------------------------------------------------- tls
    ("TlsEndpoint", "name"): "Unique id of the item.",
    ("TlsEndpoint", "host"): "Address or name to connect to.",
    ("TlsEndpoint", "port"): "TCP port.",
    ("TlsEndpoint", "server_name"): "SNI and the name the certificate must match (default: "
    "`host`).",
    ("TlsEndpoint", "ca_file"): "Trust anchor (PEM); default: the system store.",
    ("TlsEndpoint", "starttls"): "`postgres`: negotiate TLS inside the PostgreSQL protocol.",
    ("TlsEndpoint", "http_port"): "Plain-HTTP port of the same site: it must redirect to HTTPS.",
    # ----------------------------------------------------------------- cert_files
    ("CertFile", "path"): "PEM certificate on the machine running opsverify (relative to the "
    "inventory's folder).",
    ("CertFile", "key"): "Its private key: must match the certificate.",
    ("CertFile", "name"): "Id in the report (default: the file name).",
    # ----------------------------------------------------------------- postgres
    ("Postgres", "name"): "Unique id of the item; referenced by `backups[].restore.postgres` "
    "and `security.default_credentials[].postgres`.",
    ("Postgres", "dsn"): "`postgresql://` URL or `key=value` DSN, normally `${VAR}`. A role with "
    "`pg_monitor` is enough: every session is read-only with a statement timeout.",
    ("Postgres", "restore_dsn"): "A role with CREATEDB for the restore drill's scratch database "
    "(default: `dsn`).",
    ("Postgres", "superusers"): "Roles allowed to be superuser; any other is a finding.",
    ("Postgres", "require_ssl"): "The server must have `ssl = on` and accept `sslmode=require`.",
    ("Postgres", "replicas"): "Streaming replicas this primary must have (DB-010): a count "
    "(`2`) or their application_names (`[standby1]`); absent or 0: replication not judged.",
    ("Postgres", "wal_archive"): "The server must archive WAL within the RPO: archive_mode on, a "
    "command set, no failure since the last success, no segment waiting too long (BKP-011).",
    ("Postgres", "wal_archive_max_age_s"): "Overrides `thresholds.wal_archive_max_age_s` for "
    "this server.",
    ("Postgres", "migrations"): "Where the schema revision is recorded and which one the "
    "deployed code expects (DB-011).",
    ("Migrations", "table"): "Table holding the revision (`alembic_version`, or `schema.table`).",
    ("Migrations", "column"): "Column holding the revision (`version_num`).",
    ("Migrations", "expect"): "Expected revision, or a list of heads (alembic branches); from the "
    "pipeline as `${VAR}` (then redacted in reports like every `${VAR}` value).",
    # ----------------------------------------------------------------- redis
    ("Redis", "name"): "Unique id of the item.",
    ("Redis", "url"): "`redis://`, `rediss://` or `unix://` URL with its password, normally "
    "`${VAR}`.",
    # ----------------------------------------------------------------- docker
    ("Docker", "url"): "Engine address: `unix://`, `tcp://`, `ssh://user@host`.",
    ("Docker", "project"): "Compose project label (`com.docker.compose.project`).",
    ("Docker", "services"): "Compose services that must have a running (and healthy, when a "
    "healthcheck exists) container.",
    ("Docker", "one_shot"): "Services expected to run and exit 0 (migrations), not reported as "
    "down.",
    ("Docker", "allow_root"): "Services allowed to run as root (still reported in evidence).",
    ("Docker", "allow_privileged"): "Services allowed to run privileged.",
    ("Docker", "log_patterns"): "Log lines to count in the services' last 24 h of container "
    "logs, each with a limit; see [log_patterns](#dockerlog_patterns).",
    ("LogPattern", "name"): "Unique id of the pattern (the result's target name).",
    ("LogPattern", "pattern"): "Python regular expression searched in each log line; `(?i)` "
    "for any case (`(?i)rate limit`).",
    ("LogPattern", "max"): "Matching lines tolerated over 24 h, all the services' containers "
    "together.",
    ("LogPattern", "services"): "Compose services whose logs are read (default: every "
    "`docker.services` entry).",
    ("Docker", "allow_capabilities"): "Dangerous capabilities a service may add, by service: "
    "`{vpn: [NET_ADMIN]}` (any other SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ALL... is a finding).",
    ("Docker", "allow_writable_rootfs"): "Services allowed to run without a read-only root "
    "filesystem.",
    # ----------------------------------------------------------------- hosts
    ("Host", "name"): "Unique id of the item.",
    ("Host", "target"): "testinfra target: `local://`, `ssh://user@host:port`, `docker://name`.",
    ("Host", "ssh_config"): "ssh config file for `ssh://` targets (put `ControlPath` in it for "
    "speed).",
    ("Host", "mounts"): "Directories that must exist (mount points, storage volumes) and whose "
    "filesystem's disk and inode use is checked.",
    ("Host", "env_files"): "Env files that must exist with mode 0600 or stricter and hold no weak "
    "or default secrets (values never reported).",
    ("Host", "log_dirs"): "Directories that must exist, searched for oversized log files and "
    "failed logins.",
    ("Host", "service_user"): "Owner the env files must have.",
    ("Host", "nginx_conf"): "nginx configuration file on this host, read as written (includes "
    "are not followed) for `nginx_directives`.",
    ("Host", "nginx_directives"): "Directives `nginx_conf` must contain: `name value` matches "
    "exactly, a bare `name` any value (runbook 001: `proxy_request_buffering off`, "
    "`proxy_read_timeout`).",
    ("Host", "min_free"): "Path -> free space it must keep, in bytes or `10g` (runbook 001: "
    "need > 10GB free); judged in bytes, beside the percentage thresholds (RES-008).",
    ("Host", "required_files"): "Files that must exist (paths, or `{path, min_size}`), e.g. an "
    "ML model checkpoint (RES-005).",
    ("Host", "security_updates"): "Check pending OS security updates on this host (SEC-031).",
    ("SecurityUpdates", "manager"): "Package manager asked (`apt`: `apt-get -s dist-upgrade`, "
    "read-only; the lists are never refreshed by the check).",
    ("SecurityUpdates", "root"): "System root apt reads: `/`, or a chroot / image root mounted "
    "elsewhere (`apt -o Dir=ROOT`).",
    ("SecurityUpdates", "lists_max_age_days"): "Package lists older than this (no recent "
    "`apt-get update`) cannot tell what is pending: a finding.",
    ("RequiredFile", "path"): "Absolute path on the host (symlinks are followed).",
    ("RequiredFile", "min_size"): "A smaller file is a finding (a truncated copy), `100m`.",
    # ----------------------------------------------------------------- backups
    ("Backup", "name"): "Unique id of the backup set.",
    ("Backup", "path"): "Folder holding the backups (on the machine running opsverify).",
    ("Backup", "pattern"): "Shell pattern of the file names in `path` (`database_*.sql.gz`), or "
    "one folder level and a file pattern for one folder per day (`*/database.sql` for "
    "`path/20261123/database.sql`). A date in the name or folder (YYYYMMDD) dates the file, "
    "else its mtime; a `checksums` manifest then lists relative paths "
    "(`sha256sum */database.sql`).",
    ("Backup", "format"): "`pg_plain_gz` (pg_dump | gzip), `pg_plain` (plain SQL), `pg_custom` "
    "(pg_dump -Fc), `tar_gz` (file archives).",
    ("Backup", "max_age_h"): "Overrides `thresholds.backup_max_age_h` for this set.",
    ("Backup", "min_size"): "Newest backup must be at least this large (`10m`).",
    ("Backup", "checksums"): "Manifest in the same folder (`SHA256SUMS`): every listed file "
    "matches and the newest is listed.",
    ("Backup", "restore"): "Restore the newest dump into a scratch database; see "
    "[restore](#backupsrestore).",
    ("Backup", "retention"): "Policy the files' dates must satisfy; see "
    "[retention](#backupsretention).",
    ("Backup", "mirror"): "Second location (a folder) that must hold the newest backup with the "
    "same checksum.",
    ("Backup", "expect_paths"): "`tar_gz`: member paths (prefixes) the archive must contain.",
    ("Restore", "postgres"): "Name of the `postgres` item whose server hosts the scratch database "
    "(`opsverify_restore_*`, always dropped).",
    ("Restore", "min_rows"): "Sanity queries after the restore: table -> minimum row count.",
    ("Restore", "jobs"): "`pg_restore -j` parallelism for custom-format dumps.",
    ("Retention", "daily"): "Each of the N days ending at the newest backup's day holds a backup "
    "(0: no daily tier).",
    ("Retention", "weekly"): "Each of the N ISO weeks ending at the newest backup's week holds "
    "a backup.",
    ("Retention", "monthly"): "Each of the N months ending at the newest backup's month holds a "
    "backup. Files older than every tier's oldest slot are reported as kept beyond the policy.",
    # ----------------------------------------------------------------- monitoring
    ("Prometheus", "url"): "Prometheus base URL.",
    ("Prometheus", "queries"): "PromQL overrides by name: `error_ratio`, `latency_p95`, "
    "`request_rate` (defaults use `http_requests_total` and "
    "`http_request_duration_seconds_bucket`), `availability` (default "
    "`avg_over_time(up[$window])`; `$window` is replaced; targets no longer scraped are left "
    "out).",
    ("Prometheus", "expect_rules"): "Alert (or recording) rule names Prometheus must have "
    "loaded (runbook 000: `HighErrorRate`, `DatabaseDown`); any rule in error also fails.",
    ("Prometheus", "availability_window"): "Window of the availability objective, a "
    "Prometheus duration (`30d`); when Prometheus holds less, the covered span is reported.",
    ("Alertmanager", "url"): "Alertmanager base URL.",
    ("Alertmanager", "fail_severity"): "Active alerts with this `severity` label or higher fail "
    "the check.",
    # ----------------------------------------------------------------- security
    ("Security", "forbidden_paths"): "URL paths that must answer 403/404 and never the file, on "
    "every HTTPS origin.",
    ("Security", "listing_paths"): "URL paths that must not show a directory index.",
    ("Security", "required_headers"): "Response headers every HTTPS origin must send.",
    ("Security", "default_credentials"): "Logins that must NOT work; see "
    "[default_credentials](#securitydefault_credentials).",
    ("Security", "vulnerability_reports"): "Scanner JSON reports to gate on; see "
    "[vulnerability_reports](#securityvulnerability_reports).",
    ("Security", "access_logs"): "Access log files scanned for injection-looking requests and "
    "failed-login bursts.",
    ("Security", "closed_ports"): "TCP ports that must refuse connections (`host:port` or a "
    "mapping); see [closed_ports](#securityclosed_ports).",
    ("Security", "write_paths"): "URL path prefixes where POST/PUT/PATCH/DELETE are legitimate "
    "(`[/api/]`); when set, write requests elsewhere in `access_logs` are findings.",
    ("ClosedPort", "port"): "The port (runbook 003: 5432 and 6379 must not be published).",
    ("ClosedPort", "host"): "Address to connect to (default 127.0.0.1).",
    ("ClosedPort", "name"): "Name of the result (default `host:port`).",
    ("DefaultCredential", "user"): "User name to try.",
    ("DefaultCredential", "password"): "Password to try (a well-known default, not a secret).",
    ("DefaultCredential", "url"): "HTTP URL of the login (the protected page for `basic`, the "
    "login POST target otherwise); give exactly one of url, postgres, redis.",
    ("DefaultCredential", "kind"): "How a `url` login is sent: `basic` (HTTP basic auth), `form` "
    "(urlencoded POST; success = a redirect away from the login page unless a cookie/marker is "
    "declared), `json` (JSON POST; needs `success_cookie` or `success_marker`), `grafana` "
    "(POST /login `{user, password}`, success = 200 with `Logged in` and a `grafana_session` "
    "cookie).",
    ("DefaultCredential", "user_field"): "Form/JSON field of the user name (default `username`; "
    "`user` for grafana).",
    ("DefaultCredential", "password_field"): "Form/JSON field of the password (default "
    "`password`).",
    ("DefaultCredential", "success_cookie"): "Cookie whose setting proves a successful login "
    "(form/json/grafana).",
    ("DefaultCredential", "success_marker"): "Text in a 2xx response body that proves a "
    "successful login (form/json/grafana).",
    ("DefaultCredential", "postgres"): "Name of a `postgres` item to try the login against.",
    ("DefaultCredential", "redis"): "Name of a `redis` item to try the login against.",
    ("VulnReport", "path"): "JSON report written by the scanner (`trivy ... --format json`, "
    "`npm audit --json`).",
    ("VulnReport", "format"): "Which scanner wrote it.",
    ("VulnReport", "fail_severity"): "Findings at or above this severity fail.",
}

# Section headings and the model behind each, in document order.
SECTIONS: list[tuple[str, str, str]] = [
    ("Top level", "Inventory", "top-level"),
    ("thresholds", "Thresholds", "thresholds"),
    ("http[]", "HttpEndpoint", "http"),
    ("tls[]", "TlsEndpoint", "tls"),
    ("cert_files[]", "CertFile", "cert_files"),
    ("postgres[]", "Postgres", "postgres"),
    ("postgres[].migrations", "Migrations", "postgresmigrations"),
    ("redis[]", "Redis", "redis"),
    ("docker", "Docker", "docker"),
    ("docker.log_patterns[]", "LogPattern", "dockerlog_patterns"),
    ("hosts[]", "Host", "hosts"),
    ("hosts[].required_files[]", "RequiredFile", "hostsrequired_files"),
    ("hosts[].security_updates", "SecurityUpdates", "hostssecurity_updates"),
    ("backups[]", "Backup", "backups"),
    ("backups[].restore", "Restore", "backupsrestore"),
    ("backups[].retention", "Retention", "backupsretention"),
    ("prometheus", "Prometheus", "prometheus"),
    ("alertmanager", "Alertmanager", "alertmanager"),
    ("security", "Security", "security"),
    ("security.default_credentials[]", "DefaultCredential", "securitydefault_credentials"),
    ("security.vulnerability_reports[]", "VulnReport", "securityvulnerability_reports"),
    ("security.closed_ports[]", "ClosedPort", "securityclosed_ports"),
]

def models() -> dict[str, type[BaseModel]]:
    """Every model reachable from :class:`Inventory`, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(m: type[BaseModel]) -> None:
        if m.__name__ in found:
            return
        found[m.__name__] = m
        for f in m.model_fields.values():
            for t in _flatten(f.annotation):
                if isinstance(t, type) and issubclass(t, BaseModel):
                    visit(t)

    visit(inv.Inventory)
    return found


def _flatten(ann: Any) -> list[Any]:
    args = typing.get_args(ann)
    if not args:
        return [ann]
    out: list[Any] = []
    for a in args:
        out.extend(_flatten(a))
    return out


def type_text(ann: Any) -> str:
    """A reader's spelling of a field type: ``list of string``, ``one of: a, b``."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(type_text(a) for a in inner)
    if origin is typing.Literal:
        return "one of: " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {type_text(args[0])}s"
    if origin is dict:
        return f"mapping {type_text(args[0])} -> {type_text(args[1])}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "mapping"
    return {str: "string", int: "integer", float: "number", bool: "boolean",
            Any: "any"}.get(ann, getattr(ann, "__name__", str(ann)))


def _limits(f: FieldInfo) -> str:
    parts = []
    for m in f.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def default_text(model: str, key: str, f: FieldInfo) -> str:
    if f.is_required():
        return "**required**"
    value = f.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "all defaults"
    if value is None:
        return "-"
    if isinstance(value, list | dict) and not value:
        return "empty"
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value)
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def undocumented() -> list[str]:
    """``Model.key`` of every field without a meaning (a new key someone must describe)."""
    missing = []
    for name, m in models().items():
        for key in m.model_fields:
            if (name, key) not in HIDDEN and (name, key) not in MEANINGS:
                missing.append(f"{name}.{key}")
    return missing


def render() -> str:
    all_models = models()
    out: list[str] = []
    covered = set()
    for heading, model_name, anchor in SECTIONS:
        m = all_models.get(model_name)
        if m is None:
            continue
        covered.add(model_name)
        out += [f'<a id="{anchor}"></a>', f"### {heading}", "",
                "| key | type | default | limits | meaning |",
                "| --- | --- | --- | --- | --- |"]
        for key, f in m.model_fields.items():
            if (model_name, key) in HIDDEN:
                continue
            meaning = MEANINGS.get((model_name, key), "**undocumented**").replace("|", "\\|")
            kind = ("size (`10g`, `512m`) or bytes" if (model_name, key) in SIZE_FIELDS
                    else type_text(f.annotation))
            out.append(f"| `{key}` | {kind} | "
                       f"{default_text(model_name, key, f)} | {_limits(f) or '-'} | {meaning} |")
        out.append("")
    extra = sorted(set(all_models) - covered)
    for model_name in extra:  # a model added to the contract after this script was written
        out += [f"### {model_name} (undocumented section)", ""]
    return "\n".join(out).rstrip() + "\n"


def current_block(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN)
    return text[start:text.index(END)].strip("\n") + "\n"


def write() -> None:
    text = DOC.read_text()
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    DOC.write_text(text[:start] + "\n" + render() + text[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite the tables in {DOC}")
    args = ap.parse_args(argv)
    if args.write:
        write()
    else:
        sys.stdout.write(render())
    missing = undocumented()
    if missing:
        print("keys without a meaning in MEANINGS: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
