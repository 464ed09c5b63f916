"""PostgreSQL hardening through a read-only monitoring session (see probes.pg_hardening for
what a pg_monitor role can and cannot see)."""

from __future__ import annotations

import pytest

from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import pg_hardening
from opsverify.probes import postgres as pg


def _session(target, inventory):
    return pg.connect(target.dsn, target=target.name, timeout_s=inventory.threshold("timeout_s"))


@check(
    id="SEC-010",
    title="Only the allowed roles are PostgreSQL superusers",
    severity="critical",
    schedules=["daily", "predeploy", "weekly"],
    targets="postgres",
    rationale="A superuser bypasses every permission and can run programs on the database host; "
              "an application or reporting role with SUPERUSER turns any SQL injection into a "
              "host compromise.",
    remediation="`ALTER ROLE <name> NOSUPERUSER;` for every role not in the inventory's "
                "superusers list (grant it the specific privileges it needs instead), then find "
                "out who granted it (log_statement = 'ddl').",
    references=["runbook 002: Check for privilege escalation"],
)
def test_superusers_are_allowed(target, inventory):
    with _session(target, inventory) as conn:
        obs = pg_hardening.superusers(conn, target.superusers, target=target.name)
    attach("superuser roles", {"superusers": obs.superusers, "allowed": obs.allowed,
                               "extra": obs.extra,
                               "allowed_but_not_superuser": obs.allowed_but_not_superuser})
    assert not obs.extra, (
        f"{target.name}: unexpected superuser role(s) {', '.join(obs.extra)} "
        f"(allowed: {', '.join(obs.allowed) or 'none'})")


@check(
    id="SEC-011",
    title="PostgreSQL hashes passwords with scram-sha-256 and no role keeps an md5 hash",
    severity="normal",
    schedules=["weekly", "predeploy"],
    targets="postgres",
    rationale="md5 password hashes can be replayed from a captured handshake and cracked "
              "offline; scram-sha-256 is the default since PostgreSQL 14.",
    remediation="`ALTER SYSTEM SET password_encryption = 'scram-sha-256'; SELECT "
                "pg_reload_conf();` then reset the password of every role still hashed with md5 "
                "(they keep md5 until their password is set again).",
    references=["https://www.postgresql.org/docs/15/auth-password.html"],
)
def test_password_hashing_scram(target, inventory):
    with _session(target, inventory) as conn:
        obs = pg_hardening.password_hashing(conn, target=target.name)
    attach("password hashing", obs)
    attach_threshold(password_encryption="scram-sha-256")
    problems = []
    if obs.password_encryption != "scram-sha-256":
        problems.append(f"password_encryption is '{obs.password_encryption}' (new passwords are "
                        "stored as md5)")
    if obs.md5_roles:
        problems.append(f"role(s) with an md5 password hash: {', '.join(obs.md5_roles)}")
    assert not problems, f"{target.name}: {'; '.join(problems)}"


@check(
    id="SEC-012",
    title="pg_hba.conf has no trust rule for non-local connections",
    severity="critical",
    schedules=["daily", "predeploy", "weekly"],
    targets="postgres",
    rationale="A `trust` rule for a network address lets anyone who can reach the port log in "
              "as any role, superuser included, without a password.",
    remediation="Replace `trust` with `scram-sha-256` (over `hostssl`) for every host/hostssl "
                "line whose address is not loopback, then `SELECT pg_reload_conf();`.",
    references=["https://www.postgresql.org/docs/15/auth-pg-hba-conf.html"],
)
def test_no_trust_for_network(target, inventory):
    with _session(target, inventory) as conn:
        rules = pg_hardening.hba_rules(conn, target=target.name)
    if not rules.readable:
        pytest.skip(f"{target.name}: {rules.reason}")
    bad = rules.nonlocal_trust()
    attach("pg_hba_file_rules", rules)
    assert rules.rules, f"{target.name}: pg_hba_file_rules returned no usable rule"
    assert not bad, (
        f"{target.name}: pg_hba.conf trusts non-local connections without a password: "
        + "; ".join(f"line {r.line} {r.type} {','.join(r.database)} {','.join(r.user)} "
                    f"{r.address}{'/' + r.netmask if r.netmask else ''} trust" for r in bad))


@check(
    id="SEC-013",
    title="PostgreSQL has TLS enabled where the inventory requires it",
    severity="normal",
    schedules=["daily", "predeploy"],
    targets="postgres",
    rationale="Without TLS, passwords (md5) and query results, patient data included, cross the "
              "network in clear text.",
    remediation="Set `ssl = on` with ssl_cert_file/ssl_key_file in postgresql.conf, use "
                "`hostssl` lines in pg_hba.conf, `SELECT pg_reload_conf();`; clients use "
                "sslmode=verify-full.",
    references=["https://www.postgresql.org/docs/15/ssl-tcp.html"],
)
def test_ssl_on_when_required(target, inventory):
    if not target.require_ssl:
        pytest.skip(f"{target.name}: require_ssl is not set in the inventory")
    try:
        conn = _session(target, inventory)
    except ProbeError as exc:
        # A DSN that demands TLS meets a server without it: that refusal is the observation.
        if "does not support SSL" not in exc.problem:
            raise
        attach("ssl", {"connect_error": exc.problem})
        raise AssertionError(f"{target.name}: the server does not support SSL (ssl = off) but "
                             "the inventory requires TLS") from None
    with conn:
        obs = pg_hardening.ssl_setting(conn, target=target.name)
    attach("ssl", obs)
    assert obs.ssl == "on", f"{target.name}: ssl is '{obs.ssl}' but the inventory requires TLS"
