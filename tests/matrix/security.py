"""Fault matrix rows of the security area (checks/security, faults in
opsverify/sandbox/faults/security.py plus the container, env-file and log faults of the
dockerengine and host components)."""

from __future__ import annotations

from tests.matrix import Row

PG_CHECKS = ("SEC-008", "SEC-010", "SEC-011", "SEC-012")

ROWS = [
    Row(fault="header_removed", catches={"SEC-001": "missing X-Content-Type-Options"}),
    Row(fault="csp_removed",
        catches={"SEC-002": "no Content-Security-Policy",
                 "SEC-001": "missing Content-Security-Policy"}),
    Row(fault="server_version_disclosed",
        catches={"SEC-003": "discloses Server: nginx/",
                 "SEC-004": "shows server version 'nginx/"}),
    Row(fault="dotenv_served", catches={"SEC-005": "is served: status 200"}),
    Row(fault="directory_listing_on", catches={"SEC-006": "shows a directory listing"}),
    Row(fault="default_login_accepted",
        catches={"SEC-007": "accepted the default login for user 'admin'"}),
    Row(fault="grafana_default_login",
        catches={"SEC-007": "/grafana/login accepted the default login for user 'admin' "
                            "(grafana login: answered 200 with cookie grafana_session set"}),
    Row(fault="form_default_login",
        catches={"SEC-007": "/portal/login accepted the default login for user 'guest' (form "
                            "login: redirected away from the login page, to /portal/"}),
    Row(fault="pg_default_password",
        catches={"SEC-008": "accepted role postgres with the well-known password"}),
    Row(fault="redis_no_password", catches={"SEC-009": "runs commands without authentication"}),
    Row(fault="pg_extra_superuser", catches={"SEC-010": "unexpected superuser role(s) app"}),
    Row(fault="pg_md5_password", catches={"SEC-011": "password_encryption is 'md5'"}),
    Row(fault="pg_trust_hba", catches={"SEC-012": "192.168.0.0"}),
    # TLS-only DSNs cannot connect at all: the other PostgreSQL checks are broken, not passed.
    # ssl = off: the hardening check and the TLS area's PostgreSQL TLS check both catch it; the
    # other TLS checks of that endpoint cannot observe a certificate (broken, tolerated).
    Row(fault="pg_ssl_off",
        catches={"SEC-013": "does not support SSL", "CRT-013": "TLS is not enabled"},
        tolerates=(*PG_CHECKS, "CRT-001", "CRT-002", "CRT-003", "CRT-004", "CRT-005", "CRT-006",
                   "CRT-007", "CRT-014")),
    Row(fault="redis_protected_mode_off", catches={"SEC-014": "protected-mode is 'no'"}),
    Row(fault="redis_flush_allowed", catches={"SEC-015": "may run FLUSHALL, FLUSHDB"}),
    Row(fault="container_root_docker_socket",
        catches={"SEC-016": "running as root: opsverify-sandbox_worker_1",
                 "SEC-018": "Docker socket mounted in opsverify-sandbox_worker_1"}),
    # The forgotten debug container is privileged, root, without memory limit and with a
    # writable root filesystem: all four findings are real.
    Row(fault="container_privileged",
        catches={"SEC-017": "privileged container(s): opsverify-sandbox_debug_1",
                 "SEC-016": "opsverify-sandbox_debug_1",
                 "SEC-025": "no memory limit (HostConfig.Memory 0) on opsverify-sandbox_debug_1",
                 "SEC-027": "writable root filesystem (ReadonlyRootfs false) in "
                            "opsverify-sandbox_debug_1"}),
    Row(fault="container_no_memory_limit",
        catches={"SEC-025": "no memory limit (HostConfig.Memory 0) on opsverify-sandbox_worker_1"
                            " (service worker, running)"}),
    Row(fault="container_dangerous_caps",
        catches={"SEC-026": "dangerous capabilities added: opsverify-sandbox_netdebug_1 "
                            "(service netdebug, created): NET_ADMIN, SYS_ADMIN"}),
    Row(fault="container_writable_rootfs",
        catches={"SEC-027": "writable root filesystem (ReadonlyRootfs false) in "
                            "opsverify-sandbox_worker_1 (service worker, running)"}),
    Row(fault="env_file_world_readable",
        catches={"SEC-019": "mode 0644 gives group/others access",
                 "SEC-020": "SECRET_KEY: well-known default value"}),
    Row(fault="demo_data_enabled", catches={"SEC-021": "ENABLE_DEMO_DATA: demo data enabled"}),
    Row(fault="failed_login_burst", catches={"SEC-022": "failed logins in the last 24 h"}),
    Row(fault="injection_requests_in_log",
        catches={"SEC-023": "injection-looking requests in the last 24 h"}),
    Row(fault="vulnerable_image_report", catches={"SEC-024": "CVE-2024-6387"}),
]
