"""Redis as a cache: memory headroom, eviction policy, persistence, slow commands.

Read-only: INFO, SLOWLOG GET/LEN and PING; CONFIG GET only for the ``save`` points, which
INFO does not show (CCH-008); never a write.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import redis_stats

RUNBOOK_REDIS = "runbook 000 DICOM viewer: Redis Optimization (info memory, slowlog, " \
                "maxmemory 512mb, allkeys-lru)"
SLOWLOG_WINDOW_S = 24 * 3600


@check(
    id="CCH-001",
    title="Redis memory in use stays below the limit's share of maxmemory",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets="redis",
    rationale="""At maxmemory Redis either evicts keys or, without an eviction policy, refuses
        every write with OOM errors: sessions and caches break at once. Without maxmemory it
        grows until the kernel kills it. The runbooks monitor Redis memory and set maxmemory.""",
    remediation="""Runbook 'Redis Optimization': read INFO memory and the biggest keys
        (redis-cli --bigkeys), set a maxmemory that fits the host (config set maxmemory 512mb),
        an eviction policy (allkeys-lru), and TTLs on cache keys.""",
    references=[RUNBOOK_REDIS, "runbook 001 Horalix View: Monitoring (Redis memory usage)"],
)
def test_memory_below_maxmemory(target: Any, inventory: Inventory,
                                redis_client: redis.Redis) -> None:
    limit = inventory.threshold("redis_memory_max_pct", target)
    attach_threshold(redis_memory_max_pct=limit)
    obs = redis_stats.info(redis_client, target=target.name)
    attach("redis info", obs.summary())
    assert obs.maxmemory, (
        f"{target.name}: maxmemory is not set: Redis will grow until the host runs out of "
        f"memory (used_memory {obs.used_memory / 2**20:.1f} MiB)")
    pct = obs.memory_pct or 0.0
    assert pct <= limit, (
        f"{target.name}: used_memory {obs.used_memory / 2**20:.1f} MiB is {pct:.0f}% of "
        f"maxmemory {obs.maxmemory / 2**20:.0f} MiB, above redis_memory_max_pct {limit:g}% "
        f"(eviction policy {obs.policy}, evicted_keys {obs.int('evicted_keys')})")


@check(
    id="CCH-002",
    title="A Redis cache with maxmemory evicts keys instead of refusing writes (not noeviction)",
    severity="normal",
    schedules=["daily", "predeploy"],
    targets="redis",
    rationale="""With maxmemory-policy noeviction, a full cache answers every write with an OOM
        error instead of dropping old entries: the application fails where it should only get
        slower. The runbooks configure allkeys-lru.""",
    remediation="""Runbook 'Redis Optimization': redis-cli config set maxmemory-policy
        allkeys-lru, and persist it in redis.conf (or CONFIG REWRITE).""",
    references=[RUNBOOK_REDIS],
)
def test_eviction_policy_evicts(target: Any, inventory: Inventory,
                                redis_client: redis.Redis) -> None:
    obs = redis_stats.info(redis_client, target=target.name)
    attach("redis info", obs.summary())
    assert not (obs.maxmemory and obs.policy == "noeviction"), (
        f"{target.name}: maxmemory-policy is noeviction with maxmemory "
        f"{obs.maxmemory / 2**20:.0f} MiB: when full, Redis refuses writes (OOM) instead of "
        "evicting; the runbook policy is allkeys-lru")


@check(
    id="CCH-003",
    title="Redis persistence works: the last RDB save and AOF writes succeeded",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets="redis",
    rationale="""A failed background save means the data on disk is stale, and with
        stop-writes-on-bgsave-error (the default) Redis also refuses every write until a save
        succeeds. A failing AOF write loses acknowledged writes on restart.""",
    remediation="""Read the Redis log for the save error (disk full, permissions on the data
        dir, fork failing for memory), fix it, then run BGSAVE and confirm
        rdb_last_bgsave_status:ok in INFO persistence.""",
    references=["runbook 001 Horalix View: volumes (redis-data)", RUNBOOK_REDIS],
)
def test_persistence_ok(target: Any, inventory: Inventory, redis_client: redis.Redis) -> None:
    obs = redis_stats.info(redis_client, target=target.name)
    f = obs.fields
    attach("redis persistence", {k: f.get(k) for k in (
        "rdb_last_bgsave_status", "rdb_last_save_time", "rdb_changes_since_last_save",
        "rdb_bgsave_in_progress", "aof_enabled", "aof_last_write_status",
        "aof_last_bgrewrite_status")})
    problems = []
    if str(f.get("rdb_last_bgsave_status", "ok")) != "ok":
        problems.append(f"the last RDB background save failed (rdb_last_bgsave_status "
                        f"{f.get('rdb_last_bgsave_status')}, "
                        f"{obs.int('rdb_changes_since_last_save')} changes not on disk)")
    if obs.int("aof_enabled"):
        for key in ("aof_last_write_status", "aof_last_bgrewrite_status"):
            if str(f.get(key, "ok")) != "ok":
                problems.append(f"{key} is {f.get(key)}")
    assert not problems, f"{target.name}: " + "; ".join(problems)


@check(
    id="CCH-004",
    title="Redis logged no more slow commands in the last 24 hours than the slowlog limit",
    severity="minor",
    schedules=["daily"],
    targets="redis",
    rationale="""Redis runs one command at a time: a slow command (KEYS, big SMEMBERS, Lua)
        stalls every client behind it. The slowlog records commands above
        slowlog-log-slower-than; the runbooks read it when the application is slow.""",
    remediation="""Runbook 'Redis Optimization': redis-cli slowlog get 10, replace the slow
        commands (SCAN instead of KEYS, smaller values, pipelining), then SLOWLOG RESET.""",
    references=[RUNBOOK_REDIS],
)
def test_slowlog_quiet(target: Any, inventory: Inventory, redis_client: redis.Redis) -> None:
    limit = int(inventory.threshold("redis_slowlog_max", target))
    attach_threshold(redis_slowlog_max=limit, window_h=SLOWLOG_WINDOW_S // 3600)
    log = redis_stats.slowlog(redis_client, target=target.name)
    recent = log.since(time.time() - SLOWLOG_WINDOW_S)
    by_cmd: dict[str, int] = {}
    for e in recent:
        by_cmd[e.command] = by_cmd.get(e.command, 0) + 1
    attach("slowlog", {"slowlog_len": log.length, "entries_last_24h": len(recent),
                       "by_command": by_cmd, "newest": log.entries[:10]})
    assert len(recent) <= limit, (
        f"{target.name}: {len(recent)} slow commands in the last 24 h exceed redis_slowlog_max "
        f"{limit} (by command: {dict(sorted(by_cmd.items(), key=lambda kv: -kv[1])[:5])}; "
        f"slowest {max(e.duration_us for e in recent) / 1000:.1f} ms)")


@check(
    id="CCH-005",
    title="Redis connected clients stay below the limit's share of maxclients",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets="redis",
    rationale="""At maxclients Redis rejects every new connection ('max number of clients
        reached'): sessions and caches fail for new workers while old ones still work, which
        makes the outage confusing. A client count creeping up is usually a connection leak.""",
    remediation="""List the clients (CLIENT LIST: addr, name, age, idle), find the application
        that leaks connections or opens one per request, fix its pooling; raise maxclients
        only with the file-descriptor limit to back it.""",
    references=[RUNBOOK_REDIS, "runbook 004 Medical Device Regulatory Assistant: Redis "
                "Cache Management (info stats)"],
)
def test_clients_below_maxclients(target: Any, inventory: Inventory,
                                  redis_client: redis.Redis) -> None:
    limit = inventory.threshold("redis_clients_max_pct", target)
    attach_threshold(redis_clients_max_pct=limit)
    obs = redis_stats.info(redis_client, target=target.name)
    clients, maxclients = obs.int("connected_clients"), obs.int("maxclients")
    attach("redis clients", {k: obs.fields.get(k) for k in (
        "connected_clients", "maxclients", "blocked_clients", "rejected_connections")})
    pct = 100.0 * clients / maxclients if maxclients else 0.0
    assert pct <= limit, (
        f"{target.name}: {clients} connected clients are {pct:.0f}% of maxclients "
        f"{maxclients}, above redis_clients_max_pct {limit:g}% "
        f"({obs.int('rejected_connections')} connections rejected since the last restart)")


@check(
    id="CCH-008",
    title="Redis changes reach an RDB snapshot within redis_last_save_max_age_h when "
          "snapshots are configured",
    severity="normal",
    schedules=["daily"],
    targets="redis",
    rationale="""With RDB persistence, everything written since the last successful save is
        lost on a restart or crash. CCH-003 sees a save that failed; this check sees saves
        that never happen although writes keep coming: save points that never fire for this
        write rate, or BGSAVEs that stopped being attempted. The runbooks back up daily, so
        unsaved changes older than a day (redis_last_save_max_age_h, 24 h) are beyond what
        they promise to recover. An old save with no changes since is fine: the disk holds
        everything. Without save points (a pure cache, save "") the check does not apply.""",
    remediation="""Compare CONFIG GET save with the write rate (INFO persistence:
        rdb_changes_since_last_save, rdb_last_save_time); use save points that fire (the
        Redis default: 3600 1 300 100 60 10000), persist them in redis.conf, run BGSAVE now
        and confirm rdb_last_bgsave_status:ok and a fresh rdb_last_save_time.""",
    references=["runbook 001 Horalix View: volumes (redis-data)",
                "runbook 000 DICOM viewer: Backup Operations (daily backups)"],
)
def test_last_save_recent(target: Any, inventory: Inventory, redis_client: redis.Redis) -> None:
    limit_h = inventory.threshold("redis_last_save_max_age_h", target)
    attach_threshold(redis_last_save_max_age_h=limit_h)
    save = redis_stats.config_get(redis_client, "save", target=target.name).strip()
    obs = redis_stats.info(redis_client, target=target.name)
    f = obs.fields
    age_s = max(obs.server_time - obs.int("rdb_last_save_time"), 0.0)
    changes = obs.int("rdb_changes_since_last_save")
    attach("redis snapshots", {"save": save, "last_save_age_s": round(age_s), **{
        k: f.get(k) for k in ("rdb_last_save_time", "rdb_changes_since_last_save",
                              "rdb_last_bgsave_status", "rdb_bgsave_in_progress",
                              "aof_enabled", "uptime_in_seconds")}})
    if not save:
        pytest.skip(f"{target.name}: RDB snapshots are off (save \"\")"
                    + (": AOF persists the writes (CCH-003 judges it)" if obs.int("aof_enabled")
                       else ": no persistence, a pure cache") + "; no save age to judge")
    assert not (changes and age_s > limit_h * 3600), (
        f"{target.name}: {changes} write(s) are not on disk: the last successful RDB save was "
        f"{_ago(age_s)} ago, above redis_last_save_max_age_h {limit_h:g} h (save points "
        f"'{save}', last bgsave status {f.get('rdb_last_bgsave_status')}); a restart now "
        "loses them")


@check(
    id="CCH-009",
    title="Redis answers PING within redis_ping_max_ms (median of a few round trips)",
    severity="minor",
    schedules=["daily"],
    targets="redis",
    rationale="""Redis executes one command at a time: a long Lua script, KEYS on a big
        keyspace, a fork on a host short of memory or a saturated CPU make every client wait,
        and PING waits behind them. A PING that should take well under a millisecond taking
        tens of milliseconds is felt by every request that touches the cache. The median of
        a few spaced PINGs ignores one unlucky hiccup.""",
    remediation="""Runbook 'Redis Optimization': redis-cli slowlog get 10 and INFO stats /
        commandstats for the blocking commands, redis-cli --latency from the application
        host to separate network from server, INFO persistence for forks (latest_fork_usec),
        and the host's CPU and swap; replace the slow commands (SCAN, smaller scripts).""",
    references=[RUNBOOK_REDIS],
)
def test_ping_fast(target: Any, inventory: Inventory, redis_client: redis.Redis) -> None:
    limit = inventory.threshold("redis_ping_max_ms", target)
    attach_threshold(redis_ping_max_ms=limit)
    sample = redis_stats.ping_sample(redis_client, target=target.name)
    attach("redis ping", sample.summary())
    assert sample.median_ms <= limit, (
        f"{target.name}: median PING round trip {sample.median_ms:.1f} ms over "
        f"{len(sample.rtts_ms)} pings (max {max(sample.rtts_ms):.1f} ms) is above "
        f"redis_ping_max_ms {limit:g} ms: the server is busy (slow commands? see the slowlog) "
        "or the network to it is slow")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
