"""Redis for the sandbox: password, memory limit and eviction policy, as a cache should have.

It runs as the ``redis`` user (not root) so that a fault can make its data directory
unwritable and produce a genuinely failed save. The config file is owned by redis too, so
``CONFIG REWRITE`` works.

Knobs for fault modules: :func:`redis_cli`, :func:`config_set`, :func:`client`, :func:`info`.
"""

from __future__ import annotations

import shutil
from typing import Any

import redis

from .base import Component, Sandbox, SandboxError, require_binary, run, wait_port

PASSWORD_VAR = "SANDBOX_REDIS_PASSWORD"
URL_VAR = "SANDBOX_REDIS_URL"
MAXMEMORY = "64mb"
POLICY = "allkeys-lru"


def info(sb: Sandbox) -> dict[str, Any]:
    data: dict[str, Any] = sb.state.get("redis", {})
    if not data:
        raise SandboxError("redis is not running in this sandbox")
    return data


def redis_cli(sb: Sandbox, *args: str, timeout: float = 10.0, auth: bool = True) -> str:
    """Run ``redis-cli ARGS`` against the sandbox Redis and return its output.

    The password travels in ``REDISCLI_AUTH`` (not argv). ``auth=False`` connects without it,
    e.g. after a fault removed ``requirepass`` (Redis then rejects an AUTH).
    >>> redis_cli(sb, "CONFIG", "GET", "maxmemory-policy")          # doctest: +SKIP
    'maxmemory-policy\\nallkeys-lru'
    """
    r = info(sb)
    env = {"REDISCLI_AUTH": sb.state["env"][PASSWORD_VAR]} if auth else {}
    proc = run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(r["port"]), *args],
        env=env,
        timeout=timeout,
    )
    out = proc.stdout.strip()
    if out.startswith(("ERR", "NOAUTH", "WRONGPASS", "(error)")):
        raise SandboxError(f"redis-cli {' '.join(args[:3])}: {out}")
    return out


def client(sb: Sandbox, *, password: bool = True) -> redis.Redis:
    """A redis-py client (RESP2, short timeouts) for faults that need real commands."""
    r = info(sb)
    return redis.Redis(
        host="127.0.0.1",
        port=int(r["port"]),
        password=sb.state["env"][PASSWORD_VAR] if password else None,
        socket_timeout=5,
        socket_connect_timeout=5,
        protocol=2,
    )


def config_set(sb: Sandbox, key: str, value: str, *, auth: bool = True) -> None:
    """``CONFIG SET key value`` (live, not persisted; ``up`` values are restored on revert)."""
    redis_cli(sb, "CONFIG", "SET", key, value, auth=auth)


def defaults(sb: Sandbox) -> dict[str, str]:
    """The healthy values of the settings faults change, for reverting."""
    return {
        "requirepass": sb.state["env"][PASSWORD_VAR],
        "maxmemory": MAXMEMORY,
        "maxmemory-policy": POLICY,
        "dir": info(sb)["dir"],
        "save": "",
    }


class RedisComponent(Component):
    """redis-server on 127.0.0.1 with requirepass, maxmemory 64mb and allkeys-lru."""

    name = "redis"

    def up(self, sb: Sandbox) -> None:
        server = require_binary("redis-server", "redis-server")
        require_binary("redis-cli", "redis-tools")
        d = sb.path("redis")
        d.mkdir(parents=True, exist_ok=True)
        port = sb.port("redis")
        password = sb.secret(PASSWORD_VAR)
        conf = d / "redis.conf"
        conf.write_text(
            f"""# opsverify sandbox
bind 127.0.0.1
protected-mode yes
port {port}
daemonize no
logfile ""
dir {d}
dbfilename dump.rdb
save ""
appendonly no
requirepass {password}
maxmemory {MAXMEMORY}
maxmemory-policy {POLICY}
"""
        )
        conf.chmod(0o600)
        for p in (d, conf):
            shutil.chown(p, user="redis", group="redis")
        sb.state["redis"] = {"port": port, "dir": str(d), "config": str(conf)}
        sb.save()
        sb.spawn("redis", [server, str(conf)], user="redis", cwd=d)
        wait_port(port, timeout=10)
        redis_cli(
            sb,
            "MSET",
            "app:version", "1.4.2",
            "session:demo", "expires-soon",
            "feature:uploads", "on",
        )  # fmt: skip
        redis_cli(sb, "HSET", "user:1", "name", "user1", "role", "viewer")
        # Hardening (security checks): the client the inventory names cannot wipe the cache.
        redis_cli(sb, "ACL", "SETUSER", "default", "-flushall", "-flushdb")
        redis_cli(sb, "RPUSH", "queue:thumbnails", "study:1", "study:2", "study:3")
        sb.secret(URL_VAR, f"redis://:{password}@127.0.0.1:{port}/0")
        sb.inventory_add("redis", {"name": "cache", "url": "${" + URL_VAR + "}"})
