"""Cache faults: a full Redis that refuses writes, slow Lua scripts, a failing RDB save.

These are the sandbox writing to its own Redis (the checks never do): filling it with data,
running slow scripts, breaking and repairing its data directory. Revert restores the settings
from ``rediscache.defaults`` and removes what the fault wrote.
"""

from __future__ import annotations

import json
import os
import sys
import time

import redis

from opsverify.sandbox import rediscache
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

FILL_PREFIX = "opsverify:fault:fill:"
FILL_TARGET = 0.95  # of maxmemory
VALUE = b"x" * 500_000
# A Lua loop that takes tens of milliseconds: slower than slowlog-log-slower-than (10 ms).
SLOW_SCRIPT = "local i = 0 while i < 1500000 do i = i + 1 end return i"
SLOW_CALLS = 15


def _info(client: redis.Redis) -> dict[str, object]:
    return dict(client.info("everything"))


# --- redis_near_maxmemory_noeviction ----------------------------------------------------------
def _full_inject(sb: Sandbox) -> None:
    rediscache.config_set(sb, "maxmemory-policy", "noeviction")
    client = rediscache.client(sb)
    maxmemory = int(_info(client)["maxmemory"])
    if not maxmemory:
        raise SandboxError("redis has no maxmemory: nothing to fill up to")
    i = 0
    while int(_info(client)["used_memory"]) < FILL_TARGET * maxmemory:
        try:
            client.set(f"{FILL_PREFIX}{i}", VALUE)
        except redis.exceptions.ResponseError as exc:  # OOM: as full as it gets
            if "OOM" not in str(exc):
                raise
            break
        i += 1
        if i > 1000:
            raise SandboxError("redis did not fill up after 1000 values")


def _full_revert(sb: Sandbox) -> None:
    client = rediscache.client(sb)
    keys = list(client.scan_iter(match=f"{FILL_PREFIX}*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start:start + 500])
    rediscache.config_set(sb, "maxmemory-policy", rediscache.defaults(sb)["maxmemory-policy"])


# --- redis_slowlog_flood ----------------------------------------------------------------------
def _slowlog_inject(sb: Sandbox) -> None:
    client = rediscache.client(sb)
    before = int(client.slowlog_len())
    for _ in range(SLOW_CALLS):
        client.eval(SLOW_SCRIPT, 0)
    if int(client.slowlog_len()) - before < SLOW_CALLS // 2:
        raise SandboxError("the slow Lua script was too fast to reach the slowlog")


def _slowlog_revert(sb: Sandbox) -> None:
    rediscache.client(sb).slowlog_reset()


# --- redis_failed_save ------------------------------------------------------------------------
def _wait_bgsave(client: redis.Redis, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        info = _info(client)
        if not int(info.get("rdb_bgsave_in_progress", 0)):
            return str(info.get("rdb_last_bgsave_status"))
        if time.monotonic() > deadline:
            raise SandboxError("redis BGSAVE still running after 15s")
        time.sleep(0.05)


def _bgsave(client: redis.Redis) -> str:
    _wait_bgsave(client)
    client.bgsave()
    time.sleep(0.05)
    return _wait_bgsave(client)


def _save_inject(sb: Sandbox) -> None:
    # Redis runs as the redis user: a data directory without write permission makes the
    # forked child fail to create its temp file, exactly like a full or read-only disk.
    os.chmod(rediscache.info(sb)["dir"], 0o555)
    status = _bgsave(rediscache.client(sb))
    if status != "err":
        raise SandboxError(f"BGSAVE into a read-only dir did not fail (status {status})")


def _save_revert(sb: Sandbox) -> None:
    os.chmod(rediscache.info(sb)["dir"], 0o755)
    status = _bgsave(rediscache.client(sb))
    if status != "ok":
        raise SandboxError(f"BGSAVE after restoring the dir still fails (status {status})")


# --- redis_clients_near_max -------------------------------------------------------------------
CLIENT_LIMIT = 20
HELD_CLIENTS = 18  # 90 % of the lowered maxclients, above the 80 % limit
HOLD_ENV = "OPSVERIFY_REDIS_HOLD"


def _clients_inject(sb: Sandbox) -> None:
    client = rediscache.client(sb)
    sb.state.setdefault("fault_saved", {})["maxclients"] = str(
        client.config_get("maxclients")["maxclients"])
    sb.save()
    rediscache.config_set(sb, "maxclients", str(CLIENT_LIMIT))
    spec = {"port": rediscache.info(sb)["port"], "count": HELD_CLIENTS}
    sb.spawn("fault-redis_clients_near_max", [sys.executable, "-m", __name__],
             env={HOLD_ENV: json.dumps(spec),
                  "REDISCLI_AUTH": sb.state["env"][rediscache.PASSWORD_VAR]},
             log="fault-redis_clients_near_max.log")
    deadline = time.monotonic() + 15
    while int(_info(client)["connected_clients"]) < HELD_CLIENTS + 1:  # + this client
        if time.monotonic() > deadline:
            raise SandboxError("the client holder did not connect within 15s")
        time.sleep(0.1)


def _clients_revert(sb: Sandbox) -> None:
    sb.stop_processes("fault-redis_clients_near_max", timeout=3)
    saved = sb.state.get("fault_saved", {}).pop("maxclients", "10000")
    sb.save()
    rediscache.config_set(sb, "maxclients", saved)


def main() -> int:
    """The client holder: open ``count`` authenticated connections and keep them."""
    spec = json.loads(os.environ[HOLD_ENV])
    held = []
    for _ in range(spec["count"]):
        c = redis.Redis(host="127.0.0.1", port=int(spec["port"]),
                        password=os.environ["REDISCLI_AUTH"], socket_timeout=5,
                        single_connection_client=True)
        c.ping()
        held.append(c)
    print(f"holding {len(held)} Redis connections", flush=True)
    while True:
        time.sleep(3600)


FAULTS = [
    Fault("redis_near_maxmemory_noeviction", "cache",
          "maxmemory-policy noeviction and the cache filled to 95% of maxmemory",
          _full_inject, _full_revert),
    Fault("redis_slowlog_flood", "cache",
          f"{SLOW_CALLS} slow Lua scripts (busy loops of tens of ms) land in the slowlog",
          _slowlog_inject, _slowlog_revert),
    Fault("redis_failed_save", "cache",
          "the Redis data dir is read-only (0555): BGSAVE fails, rdb_last_bgsave_status:err",
          _save_inject, _save_revert),
    Fault("redis_clients_near_max", "cache",
          f"maxclients lowered to {CLIENT_LIMIT} and {HELD_CLIENTS} connections held open",
          _clients_inject, _clients_revert),
]


if __name__ == "__main__":
    sys.exit(main())
