"""Redis hardening: network exposure and dangerous commands."""

from __future__ import annotations

import pytest

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes import redis_hardening


@check(
    id="SEC-014",
    title="Redis runs in protected mode and is not bound to a public interface",
    severity="normal",
    schedules=["daily", "predeploy"],
    targets="redis",
    rationale="Redis listening on every interface is reachable from the network; protected mode "
              "is its last guard when the password is lost in a config change.",
    remediation="In redis.conf: `bind 127.0.0.1 -::1` (or the private address the services use) "
                "and `protected-mode yes`, restart Redis.",
    references=["https://redis.io/docs/latest/operate/oss_and_stack/management/security/"],
)
def test_redis_not_exposed(target, inventory):
    client = redis_hardening.connect(target.url, target=target.name,
                                     timeout_s=inventory.threshold("timeout_s"))
    try:
        obs = redis_hardening.network_exposure(client, target=target.name)
    finally:
        client.close()
    if not obs.config_readable:
        pytest.skip(f"{target.name}: CONFIG is renamed or not permitted to this user "
                    "(bind and protected-mode cannot be read remotely)")
    attach("network exposure", obs)
    problems = []
    if obs.protected_mode != "yes":
        problems.append(f"protected-mode is '{obs.protected_mode}'")
    if obs.public_bind:
        problems.append(f"bound to public interface(s) {', '.join(obs.public_bind)}")
    assert not problems, f"{target.name}: {'; '.join(problems)}"


@check(
    id="SEC-015",
    title="Dangerous Redis commands (FLUSHALL, FLUSHDB, DEBUG) are renamed or denied",
    severity="minor",
    schedules=["weekly", "predeploy"],
    targets="redis",
    rationale="One FLUSHALL from a compromised client or a mistyped maintenance command empties "
              "the cache and every session; DEBUG can crash the server.",
    remediation="Deny them to the application user (`ACL SETUSER <user> -flushall -flushdb "
                "-debug`, persisted in the ACL file) or `rename-command FLUSHALL \"\"` in "
                "redis.conf; keep `enable-debug-command no`.",
    references=["runbook 004: Redis Cache Management"],
)
def test_dangerous_commands_denied(target, inventory):
    client = redis_hardening.connect(target.url, target=target.name,
                                     timeout_s=inventory.threshold("timeout_s"))
    try:
        obs = redis_hardening.dangerous_commands(client, target=target.name)
    finally:
        client.close()
    attach("dangerous commands", obs)
    if obs.undetermined and not obs.available:
        pytest.skip(f"{target.name}: cannot tell for {', '.join(obs.undetermined)} "
                    f"({next(iter(obs.undetermined.values()))})")
    assert not obs.available, (
        f"{target.name}: user {obs.user} may run {', '.join(obs.available)}")
