"""Cache faults: a full Redis that refuses writes, slow Lua scripts, a failing RDB save,
evictions, a burst of misses, save points that never fire, a server kept busy.

These are the sandbox writing to its own Redis (the checks never do): filling it with data,
running slow scripts, breaking and repairing its data directory. Revert restores the settings
from ``rediscache.defaults`` and removes what the fault wrote.
"""

from __future__ import annotations

import contextlib
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


# --- redis_connections_rejected --------------------------------------------------------------
REJECT_MIN = 5  # connections to have refused: well above redis_rejected_connections_max (0)


def _reject_inject(sb: Sandbox) -> None:
    """A connection burst overruns maxclients, then ends: only rejected_connections remembers.

    The fault's own client connects first and keeps its single connection, so it can restore
    maxclients while the server is full.
    """
    port = int(rediscache.info(sb)["port"])
    password = sb.state["env"][rediscache.PASSWORD_VAR]
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5,
                         socket_connect_timeout=5, single_connection_client=True)
    before = int(_info(client)["rejected_connections"])
    saved = str(client.config_get("maxclients")["maxclients"])
    burst: list[redis.Redis] = []
    try:
        client.config_set("maxclients", str(int(_info(client)["connected_clients"]) + 2))
        for _ in range(2 + REJECT_MIN):
            # a single-connection client connects (and is refused) in its constructor
            with contextlib.suppress(redis.ConnectionError, redis.ResponseError):
                burst.append(redis.Redis(host="127.0.0.1", port=port, password=password,
                                         socket_timeout=5, socket_connect_timeout=5,
                                         single_connection_client=True))
                burst[-1].ping()
    finally:
        for c in burst:
            with contextlib.suppress(Exception):
                c.close()
        client.config_set("maxclients", saved)
    rejected = int(_info(client)["rejected_connections"]) - before
    client.close()
    if rejected < REJECT_MIN:
        raise SandboxError(f"only {rejected} connections were rejected (wanted {REJECT_MIN})")


def _reject_revert(sb: Sandbox) -> None:
    """Nothing to undo: maxclients is already restored; the counter is history by design."""


# --- redis_evictions --------------------------------------------------------------------------
EVICT_PREFIX = "opsverify:fault:evict:"
EVICT_MIN = 20  # evictions to cause: well above redis_evictions_max (0)


def _sandbox_keys(client: redis.Redis) -> list[bytes]:
    return [k for k in client.scan_iter(count=1000)
            if not k.startswith(b"opsverify:fault:")]


def _evict_inject(sb: Sandbox) -> None:
    """Write past maxmemory under allkeys-lru until Redis has evicted EVICT_MIN keys, then
    free the memory again: what a nightly burst leaves behind is only the evicted_keys count.

    allkeys-lru evicts the oldest keys first, which are the sandbox's own (written at ``up``):
    they are dumped before and restored after, so only the fault's keys stay lost.
    """
    client = rediscache.client(sb)
    info = _info(client)
    if str(info["maxmemory_policy"]) != "allkeys-lru" or not int(info["maxmemory"]):
        raise SandboxError("redis_evictions needs the healthy maxmemory with allkeys-lru")
    saved = {k.hex(): [(client.dump(k) or b"").hex(), max(int(client.pttl(k)), 0)]
             for k in _sandbox_keys(client)}
    sb.state.setdefault("fault_saved", {})["redis_evict_keys"] = saved
    sb.save()
    start = int(info["evicted_keys"])
    i = 0
    try:
        while int(_info(client)["evicted_keys"]) - start < EVICT_MIN:
            client.set(f"{EVICT_PREFIX}{i}", VALUE)
            i += 1
            if i > 1000:
                raise SandboxError("redis evicted nothing after 1000 values past maxmemory")
    finally:
        _evict_cleanup(sb, client)


def _evict_cleanup(sb: Sandbox, client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{EVICT_PREFIX}*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start:start + 500])
    saved = sb.state.get("fault_saved", {}).get("redis_evict_keys", {})
    for key, (dumped, ttl_ms) in saved.items():
        if dumped and not client.exists(bytes.fromhex(key)):
            client.restore(bytes.fromhex(key), ttl_ms, bytes.fromhex(dumped))


def _evict_revert(sb: Sandbox) -> None:
    _evict_cleanup(sb, rediscache.client(sb))
    sb.state.get("fault_saved", {}).pop("redis_evict_keys", None)
    sb.save()


# --- redis_miss_burst -------------------------------------------------------------------------
MISS_PREFIX = "opsverify:fault:miss:"
MISSES = 3000  # above redis_hit_rate_min_lookups (1000): enough lookups to be judged


def _miss_inject(sb: Sandbox) -> None:
    """Real lookups of keys that do not exist (cache penetration, or a deploy that changed
    the key names): every GET counts in keyspace_misses."""
    client = rediscache.client(sb)
    pipe = client.pipeline(transaction=False)
    for i in range(MISSES):
        pipe.get(f"{MISS_PREFIX}{i}")
    if any(v is not None for v in pipe.execute()):
        raise SandboxError("a key the miss burst looked up exists")


def _miss_revert(sb: Sandbox) -> None:
    # The misses stay in the lifetime counters; reset them as an operator would after the
    # fix, so that no later judgement over "since the server started" still sees them.
    rediscache.client(sb).config_resetstat()


# --- redis_save_points_never_fire -------------------------------------------------------------
SPARSE_SAVE = "86400 1000000"  # a day *and* a million changes: never on this write rate
UNSAVED_KEY = "opsverify:fault:unsaved"


def _sparse_inject(sb: Sandbox) -> None:
    """RDB snapshots configured with save points this instance never reaches, and a write
    after the last save: changes stay off the disk while the last save only gets older."""
    from opsverify.sandbox import manager  # the sandbox-scaled threshold this must exceed

    client = rediscache.client(sb)
    rediscache.config_set(sb, "save", SPARSE_SAVE)
    client.set(UNSAVED_KEY, str(time.time()))
    limit_s = float(manager.THRESHOLDS.get("redis_last_save_max_age_h", 24)) * 3600
    if limit_s > 60:
        raise SandboxError(f"redis_last_save_max_age_h is {limit_s / 3600:g} h in the sandbox: "
                           "too long for a fault to wait out")
    while True:  # a save may have happened moments ago (e.g. another fault's revert)
        info = _info(client)
        age = time.time() - int(info["rdb_last_save_time"])
        if age > limit_s + 1:
            return
        time.sleep(min(limit_s + 1.1 - age, 5))


def _sparse_revert(sb: Sandbox) -> None:
    rediscache.config_set(sb, "save", rediscache.defaults(sb)["save"])
    rediscache.client(sb).delete(UNSAVED_KEY)


# --- redis_busy_server ------------------------------------------------------------------------
BUSY_ENV = "OPSVERIFY_REDIS_BUSY"
BUSY_MS = 100  # each script holds the server this long (busy-reply-threshold is 5000 ms)
BUSY_WORKERS = 2  # one script always queued behind the running one: no idle gaps
# Spins on the server's clock: the same duration however fast this machine is.
BUSY_SCRIPT = """local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
local now = start
while now - start < tonumber(ARGV[1]) * 1000 do
  t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
return 1"""


def _busy_inject(sb: Sandbox) -> None:
    """Slow Lua scripts back to back on the sandbox Redis: every other command, PING
    included, waits for the running script (Redis executes one command at a time)."""
    spec = {"port": rediscache.info(sb)["port"], "workers": BUSY_WORKERS, "ms": BUSY_MS}
    sb.spawn("fault-redis_busy_server", [sys.executable, "-m", __name__],
             env={BUSY_ENV: json.dumps(spec),
                  "REDISCLI_AUTH": sb.state["env"][rediscache.PASSWORD_VAR]},
             log="fault-redis_busy_server.log")
    client = rediscache.client(sb)
    deadline = time.monotonic() + 15
    while True:  # busy once a PING has to wait for a script
        t0 = time.perf_counter()
        client.ping()
        if time.perf_counter() - t0 > BUSY_MS / 3000:
            return
        if time.monotonic() > deadline:
            raise SandboxError("the busy scripts did not slow Redis down within 15s")
        time.sleep(0.05)


def _busy_revert(sb: Sandbox) -> None:
    sb.stop_processes("fault-redis_busy_server", timeout=3)
    sb.save()
    client = rediscache.client(sb)
    time.sleep(BUSY_MS / 1000 * 1.5)  # the script that was running finishes server-side
    client.slowlog_reset()  # the scripts' slowlog entries would fail CCH-004 for 24 h


def _busy_main(spec: dict[str, int]) -> int:
    """The busy worker: threads running the slow script back to back until killed."""
    import threading

    def work() -> None:
        c = redis.Redis(host="127.0.0.1", port=int(spec["port"]),
                        password=os.environ["REDISCLI_AUTH"], socket_timeout=10,
                        single_connection_client=True)
        script = c.register_script(BUSY_SCRIPT)
        while True:
            script(args=[spec["ms"]])

    for _ in range(spec["workers"]):
        threading.Thread(target=work, daemon=True).start()
    print(f"{spec['workers']} workers running {spec['ms']} ms scripts", flush=True)
    while True:
        time.sleep(3600)


def main() -> int:
    """The client holder: open ``count`` authenticated connections and keep them (or, with
    ``OPSVERIFY_REDIS_BUSY``, the busy worker of redis_busy_server)."""
    if BUSY_ENV in os.environ:
        return _busy_main(json.loads(os.environ[BUSY_ENV]))
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
    Fault("redis_connections_rejected", "cache",
          f"maxclients briefly lowered under a connection burst: {REJECT_MIN} connections "
          "refused ('max number of clients reached'), then restored: only "
          "rejected_connections remembers", _reject_inject, _reject_revert),
    Fault("redis_evictions", "cache",
          f"written past maxmemory (allkeys-lru) until Redis evicted {EVICT_MIN} keys, then "
          "freed again: only evicted_keys remembers", _evict_inject, _evict_revert),
    Fault("redis_miss_burst", "cache",
          f"{MISSES} GETs of keys that do not exist: the hit ratio collapses",
          _miss_inject, _miss_revert),
    Fault("redis_save_points_never_fire", "cache",
          f"save '{SPARSE_SAVE}' (never reached) and a write after the last save: changes "
          "stay off the disk longer than redis_last_save_max_age_h", _sparse_inject,
          _sparse_revert),
    Fault("redis_busy_server", "cache",
          f"{BUSY_WORKERS} clients run {BUSY_MS} ms Lua scripts back to back: PING waits",
          _busy_inject, _busy_revert),
]


if __name__ == "__main__":
    sys.exit(main())
