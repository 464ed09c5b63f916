"""Default credentials must not open anything: declared logins, PostgreSQL, Redis."""

from __future__ import annotations

from fixtures.security import http_logins
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes import credentials
from opsverify.probes import http as http_probe


@check(
    id="SEC-007",
    title="Declared default logins (HTTP basic, HTML form, JSON such as Grafana) are refused",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=http_logins,
    rationale="admin/admin on Grafana or guest/guest on RabbitMQ is the first thing any scanner "
              "tries; one accepted default login is full access to dashboards, queues or the "
              "admin console.",
    remediation="Change the password of that account now (or disable it), store the new one in "
                "the secret store, and review its access log for logins since deployment.",
    references=["runbook 000 DICOM viewer: Service URLs (Grafana admin/admin)",
                "runbook 001: Update Passwords", "runbook 002: Security Incident Response"],
)
def test_default_login_refused(target, inventory):
    o = target.origin
    timeout = inventory.threshold("timeout_s")
    ca_file, resolve = (o.ca_file, o.resolve) if o else (None, None)
    login = target.login
    if login is not None and login.kind != "basic":
        spec = credentials.login_spec(
            login.kind, user_field=login.user_field, password_field=login.password_field,
            success_cookie=login.success_cookie, success_marker=login.success_marker)
        form = credentials.form_login(target.url, target.user, target.password, spec,
                                      target=target.name, timeout_s=timeout, ca_file=ca_file,
                                      resolve=resolve)
        attach("login attempt", form)
        assert form.verdict == "refused", (
            f"{target.url} accepted the default login for user '{target.user}' ({login.kind} "
            f"login: {form.reason}; a random password was refused)")
        return
    # A fresh session: a cookie from the login must not ride along on later checks' requests.
    session = http_probe.new_session(pool_maxsize=1)
    try:
        attempt = credentials.http_basic_login(
            session, target.url, target.user, target.password, target=target.name,
            timeout_s=timeout, ca_file=ca_file, resolve=resolve)
    finally:
        session.close()
    attach("login attempt", attempt)
    if attempt.verdict == "unprotected":
        raise AssertionError(
            f"{target.url} answered {attempt.status_without_credentials} even without "
            "credentials: the endpoint is not protected at all")
    assert attempt.verdict == "refused", (
        f"{target.url} accepted the default login for user '{target.user}' "
        f"({attempt.method} answered {attempt.status_with_credentials} with it and "
        f"{attempt.status_without_credentials} without)")


@check(
    id="SEC-008",
    title="PostgreSQL refuses well-known passwords for the postgres role",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets="postgres",
    rationale="A postgres superuser with the password 'postgres' is one connection away from "
              "reading every patient record and running programs on the server (COPY ... "
              "PROGRAM).",
    remediation="Set a long random password (`ALTER ROLE postgres PASSWORD '...'` from a psql "
                "session, with password_encryption scram-sha-256), or make the role NOLOGIN and "
                "use peer authentication on the socket; review pg_hba.conf.",
    references=["runbook 001: Update Passwords"],
)
def test_postgres_refuses_default_passwords(target, inventory):
    candidates = [(p, p) for p in credentials.WELL_KNOWN_PG_PASSWORDS]
    for i, c in enumerate(inventory.security.default_credentials if inventory.security else []):
        if c.postgres == target.name and c.user == "postgres" and c.password not in dict(
                candidates).values():
            candidates.append((f"default_credentials[{i}]", c.password))
    result = credentials.pg_passwords_accepted(
        target.dsn, "postgres", candidates, target=target.name,
        timeout_s=inventory.threshold("timeout_s"))
    attach("login attempts as postgres", result)
    assert not result.accepted, (
        f"{target.name}: PostgreSQL at {result.host}:{result.port} accepted role postgres with "
        f"the well-known password {', '.join(repr(a) for a in result.accepted)}")


@check(
    id="SEC-009",
    title="Redis refuses commands from clients that did not authenticate",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="redis",
    rationale="An open Redis holds sessions and cached records, and CONFIG SET dir/dbfilename "
              "lets an unauthenticated client write files on the server.",
    remediation="Set `requirepass` (or ACL users with passwords, `user default off`) in "
                "redis.conf, update REDIS_URL of the services, restart Redis; rotate the "
                "sessions it held.",
    references=["runbook 000 DICOM viewer: Redis Optimization"],
)
def test_redis_requires_auth(target, inventory):
    timeout = inventory.threshold("timeout_s")
    obs = credentials.redis_unauthenticated(target.url, target=target.name, timeout_s=timeout)
    attach("unauthenticated PING", obs)
    assert obs.unauthenticated_ping == "refused", (
        f"{target.name}: Redis at {obs.address} runs commands without authentication "
        f"(PING answered {obs.answer})")
    declared = [c for c in (inventory.security.default_credentials if inventory.security else [])
                if c.redis == target.name]
    accepted = [c.user for c in declared if credentials.redis_login_accepted(
        target.url, c.user, c.password, target=target.name, timeout_s=timeout)]
    assert not accepted, (
        f"{target.name}: Redis accepted the declared default login for {', '.join(accepted)}")
