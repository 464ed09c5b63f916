"""Secrets at rest in env files: permissions, default values, demo data. Evidence names the
variable and the rule, never the value."""

from __future__ import annotations

from fixtures.security import env_files
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import secrets_at_rest


def _read(target, testinfra_host):
    env = secrets_at_rest.read_env_file(testinfra_host(target.host), target.host.name,
                                        target.path, target=target.name)
    attach("env file (values never shown)", env.evidence())
    assert env.exists, f"{target.name}: declared env file does not exist"
    return env


@check(
    id="SEC-019",
    title="Env files holding secrets are mode 0600 or stricter (and owned by the service user)",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=env_files,
    rationale="A world- or group-readable .env gives every local account and every compromised "
              "service on the host the database password and the signing keys.",
    remediation="`chmod 600 <file> && chown <service user> <file>`; if it was readable by others "
                "for a while, rotate the secrets it holds (runbook: Rotate SECRET_KEY).",
    references=["runbook 001: ls -la .env", "runbook 001: Rotate SECRET_KEY"],
)
def test_env_file_permissions(target, testinfra_host):
    env = _read(target, testinfra_host)
    attach_threshold(max_mode="0600")
    problems = []
    if env.group_or_world_access:
        problems.append(f"mode {env.mode_octal} gives group/others access (want 0600 or "
                        "stricter)")
    user = target.host.service_user
    if user and env.owner != user:
        problems.append(f"owned by {env.owner}, not the service user {user}")
    assert not problems, f"{target.name}: {'; '.join(problems)}"


@check(
    id="SEC-020",
    title="Env files hold no default or weak secret values",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=env_files,
    rationale="A SECRET_KEY of 'changeme' lets anyone forge sessions and tokens; a short key can "
              "be brute-forced offline from one signed token.",
    remediation="Generate each flagged secret (`openssl rand -hex 32`), store it in the env file "
                "or secret store, restart the services (existing sessions are invalidated).",
    references=["runbook 001: Rotate SECRET_KEY", "runbook 003: Rotate Secrets"],
)
def test_no_weak_secrets(target, inventory, testinfra_host):
    env = _read(target, testinfra_host)
    min_len = int(inventory.threshold("secret_min_length"))
    findings = secrets_at_rest.weak_values(env.text, min_length=min_len)
    attach("findings (variable and rule only)", findings)
    attach_threshold(secret_min_length=min_len)
    assert not findings, f"{target.name}: " + "; ".join(
        f"{f.variable}: {f.rule}" for f in findings)


@check(
    id="SEC-021",
    title="Demo data is disabled (ENABLE_DEMO_DATA is not true)",
    severity="normal",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=env_files,
    rationale="Demo data ships demo accounts with published passwords and fake patients mixed "
              "with real ones.",
    remediation="Set ENABLE_DEMO_DATA=false in the env file, restart the backend, and delete the "
                "demo accounts and records it created.",
    references=["runbook 001: environment configuration (.env)"],
)
def test_demo_data_disabled(target, testinfra_host):
    env = _read(target, testinfra_host)
    flags = secrets_at_rest.demo_flags(env.text)
    attach("findings (variable and rule only)", flags)
    assert not flags, f"{target.name}: " + "; ".join(f"{f.variable}: {f.rule}" for f in flags)
