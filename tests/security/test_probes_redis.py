"""Redis credential and hardening probes against a throwaway redis-server."""

from __future__ import annotations

import redis

from opsverify.probes import credentials, redis_hardening


def _url(port: int, password: str | None) -> str:
    return f"redis://:{password}@127.0.0.1:{port}/0" if password else f"redis://127.0.0.1:{port}/0"


def test_unauthenticated_ping_refused_then_accepted(redis_server):
    port, password = redis_server
    url = _url(port, password)
    assert credentials.strip_credentials(url) == f"redis://127.0.0.1:{port}/0"
    obs = credentials.redis_unauthenticated(url, target="t", timeout_s=5)
    assert obs.unauthenticated_ping == "refused"
    admin = redis.Redis(port=port, password=password)
    admin.config_set("requirepass", "")
    try:
        assert credentials.redis_unauthenticated(url, target="t", timeout_s=5
                                                 ).unauthenticated_ping == "accepted"
    finally:
        redis.Redis(port=port).config_set("requirepass", password)


def test_hardening_reads_config_and_acl(redis_server):
    port, password = redis_server
    client = redis_hardening.connect(_url(port, password), target="t", timeout_s=5)
    exposure = redis_hardening.network_exposure(client, target="t")
    assert (exposure.protected_mode, exposure.bind, exposure.public_bind) == (
        "yes", ["127.0.0.1"], [])
    first = redis_hardening.dangerous_commands(client, target="t")
    assert first.available == ["FLUSHALL", "FLUSHDB"]  # DEBUG: enable-debug-command no
    client.execute_command("ACL", "SETUSER", "default", "-flushall", "-flushdb")
    try:
        second = redis_hardening.dangerous_commands(client, target="t")
        assert second.available == []
        assert second.unavailable["FLUSHALL"] == "denied to user default by ACL"
    finally:
        client.execute_command("ACL", "SETUSER", "default", "+flushall", "+flushdb")
        client.close()


def test_public_bind_rules():
    assert redis_hardening.is_public_bind("0.0.0.0")
    assert redis_hardening.is_public_bind("*")
    assert not redis_hardening.is_public_bind("127.0.0.1")
    assert not redis_hardening.is_public_bind("-::1")
    assert not redis_hardening.is_public_bind("10.1.2.3")
    assert redis_hardening.is_public_bind("8.8.8.8")
