"""Redis counters judged between runs: evictions and the keyspace hit ratio.

INFO's counters (evicted_keys, keyspace_hits/misses) accumulate since the server started, so
their level says little about a server up for months. These checks store each run's values in
the run history (``history`` fixture) and judge what changed since the previous run. A restart
or CONFIG RESETSTAT zeroes the counters: detected by run_id, uptime and counters going down,
and then judged over the time since the restart or reset instead (never a negative change).

Read-only: INFO and PING only.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.history import History
from opsverify.inventory import Inventory
from opsverify.probes import redis_stats

RUNBOOK_REDIS = "runbook 000 DICOM viewer: Redis Optimization (info stats, maxmemory 512mb, " \
                "allkeys-lru)"
LOOKUP_COUNTERS = ("keyspace_hits", "keyspace_misses")


def _growth_since_previous_run(check_id: str, target: Any, history: History,
                               obs: redis_stats.RedisInfo, counter: str, evidence: str,
                               context: tuple[str, ...]
                               ) -> tuple[int, str, redis_stats.CounterWindow]:
    """How much ``counter`` grew since the previous run: (growth, "at least " when a restart
    or reset cut the window else "", the window). Stores this run's value; the first run
    stores the baseline and skips, because one reading says nothing about a change."""
    current = redis_stats.snapshot(obs, (counter,))
    previous = history.exchange(f"{check_id}/{target.name}", current)
    win = redis_stats.window(previous, current, (counter,))
    attach(evidence, {**win.summary(),
                      **{k: obs.fields.get(k) for k in (counter, *context)}})
    if previous is None:
        pytest.skip(f"{target.name}: no previous run recorded for this Redis; stored the "
                    f"baseline now ({counter} {obs.int(counter)} since the server started): "
                    "the next run judges the change in between")
    return win.deltas[counter], "" if win.since == "previous run" else "at least ", win


@check(
    id="CCH-006",
    title="Redis evicted no more keys since the previous run than redis_evictions_max",
    severity="normal",
    schedules=["daily"],
    targets="redis",
    rationale="""allkeys-lru keeps a full Redis answering, but every eviction drops a key the
        application still wanted: a cache miss at best, a logged-out user at worst (runbook 000
        keeps the backend's sessions in Redis). The runbooks size maxmemory (512mb) for the
        working set, so evictions mean it no longer fits. The memory level (CCH-001) only shows
        the moment of the run: a nightly burst that evicted thousands of keys and was then
        freed again is only visible in the counter's growth since the previous run.""",
    remediation="""Runbook 'Redis Optimization': read INFO memory and INFO stats, find what
        grew (redis-cli --bigkeys, keys without TTL), add TTLs or raise maxmemory within the
        host's memory (config set maxmemory, persisted in redis.conf). For a pure cache where
        eviction is the design, raise redis_evictions_max for it instead.""",
    references=[RUNBOOK_REDIS, "runbook 000 DICOM viewer: Backend -> Redis (for sessions)"],
)
def test_no_evictions_since_previous_run(target: Any, inventory: Inventory,
                                         redis_client: redis.Redis, history: History) -> None:
    limit = int(inventory.threshold("redis_evictions_max", target))
    attach_threshold(redis_evictions_max=limit)
    obs = redis_stats.info(redis_client, target=target.name)
    evicted, bound, win = _growth_since_previous_run(
        "CCH-006", target, history, obs, "evicted_keys", "redis evictions",
        ("maxmemory", "maxmemory_policy", "used_memory", "uptime_in_seconds"))
    assert evicted <= limit, (
        f"{target.name}: {bound}{evicted} keys evicted {win.describe()}, above "
        f"redis_evictions_max {limit}: the working set no longer fits in maxmemory "
        f"{obs.maxmemory / 2**20:.0f} MiB (policy {obs.policy}, used now "
        f"{obs.used_memory / 2**20:.1f} MiB)")


@check(
    id="CCH-007",
    title="The Redis keyspace hit ratio since the previous run stays above redis_hit_rate_min",
    severity="minor",
    schedules=["daily"],
    targets="redis",
    rationale="""A cache that misses most lookups sends the load it should absorb to the
        database and the API: the application gets slower with nothing broken. The runbooks
        watch the hit rate (info stats | grep hit). The ratio is judged over the lookups since
        the previous run, because the lifetime counters of a server up for months hide
        today's collapse. Fewer lookups than redis_hit_rate_min_lookups are not judged
        (skipped with the count): the ratio of a handful of lookups on an idle or freshly
        started Redis says nothing, and passing it would claim a health nobody measured.""",
    remediation="""Runbook 004 'Redis Cache Management': redis-cli info stats | grep hit.
        Look for keys that expire too early (TTLs), evictions (CCH-006, maxmemory too small),
        a flush (FLUSHALL, a deploy that changed key names or a cache prefix), or a client
        asking for keys that never exist (a bug, or cache penetration: cache the misses).""",
    references=["runbook 004 Medical Device Regulatory Assistant: Monitor cache hit rates",
                "runbook 001 Horalix View: Check Redis cache hit rate", RUNBOOK_REDIS],
)
def test_hit_ratio_above_minimum(target: Any, inventory: Inventory,
                                 redis_client: redis.Redis, history: History) -> None:
    floor = inventory.threshold("redis_hit_rate_min", target)
    min_lookups = int(inventory.threshold("redis_hit_rate_min_lookups", target))
    attach_threshold(redis_hit_rate_min=floor, redis_hit_rate_min_lookups=min_lookups)
    obs = redis_stats.info(redis_client, target=target.name)
    current = redis_stats.snapshot(obs, LOOKUP_COUNTERS)
    previous = history.exchange(f"CCH-007/{target.name}", current)
    win = redis_stats.window(previous, current, LOOKUP_COUNTERS)
    hits, misses = win.deltas["keyspace_hits"], win.deltas["keyspace_misses"]
    lookups = hits + misses
    ratio = hits / lookups if lookups else None
    attach("redis lookups", {**win.summary(), "lookups": lookups,
                             "hit_ratio": None if ratio is None else round(ratio, 4),
                             **{k: obs.fields.get(k) for k in (
                                 *LOOKUP_COUNTERS, "evicted_keys", "expired_keys",
                                 "uptime_in_seconds")}})
    if not floor:
        pytest.skip(f"{target.name}: redis_hit_rate_min is 0: hit ratio not judged")
    if lookups < min_lookups or ratio is None:
        pytest.skip(f"{target.name}: only {lookups} lookups {win.describe()}, fewer than "
                    f"redis_hit_rate_min_lookups {min_lookups}: too few to judge a hit ratio")
    assert ratio >= floor, (
        f"{target.name}: keyspace hit ratio {ratio:.1%} {win.describe()} ({hits} hits, "
        f"{misses} misses) is below redis_hit_rate_min {floor:.0%}: most lookups miss the "
        f"cache (evicted_keys {obs.int('evicted_keys')}, expired_keys "
        f"{obs.int('expired_keys')} since the server started)")



@check(
    id="CCH-010",
    title="Redis refused no more connections since the previous run than the limit",
    severity="normal",
    schedules=["daily"],
    targets="redis",
    rationale="""When maxclients is reached Redis refuses new connections ('max number of
        clients reached'): the application sees errors, a login or a page fails, while the
        server itself looks healthy again minutes later. The client count (CCH-005) shows
        only the moment of the run; rejected_connections remembers the burst, and its growth
        since the previous run says whether it happened since then.""",
    remediation="""Find who opens so many connections (CLIENT LIST: addr, name, idle): usually
        a pool without a maximum, or connections opened per request and never closed. Fix the
        client's pool size, then raise maxclients (and the process's open-files limit) only if
        the real load needs it.""",
    references=["runbook 000 DICOM viewer: Redis Optimization (info stats)",
                "Redis documentation: Client handling (maxclients)"],
)
def test_no_rejected_connections_since_previous_run(
        target: Any, inventory: Inventory, redis_client: redis.Redis,
        history: History) -> None:
    limit = int(inventory.threshold("redis_rejected_connections_max", target))
    attach_threshold(redis_rejected_connections_max=limit)
    obs = redis_stats.info(redis_client, target=target.name)
    rejected, bound, win = _growth_since_previous_run(
        "CCH-010", target, history, obs, "rejected_connections", "redis rejected connections",
        ("connected_clients", "maxclients", "uptime_in_seconds"))
    assert rejected <= limit, (
        f"{target.name}: {bound}{rejected} connections rejected {win.describe()} (maxclients "
        f"{obs.fields.get('maxclients')} reached), above redis_rejected_connections_max {limit}")
