"""Redis health as INFO and SLOWLOG show it: read-only commands only.

Only ``INFO``, ``SLOWLOG GET``/``LEN`` and ``PING`` are sent: no CONFIG (often renamed or
disabled on managed Redis, and INFO already carries ``maxmemory`` and its policy), never a
write. Slowlog entries are reduced to command name, argument count and duration: their
arguments are application data (keys, values) that do not belong in a report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from opsverify.probes import redis as redis_probe

INFO_FIELDS = (
    "redis_version", "uptime_in_seconds", "used_memory", "used_memory_rss", "maxmemory",
    "maxmemory_policy", "mem_fragmentation_ratio", "connected_clients", "maxclients",
    "blocked_clients", "rejected_connections", "evicted_keys", "expired_keys", "keyspace_hits",
    "keyspace_misses", "rdb_bgsave_in_progress", "rdb_last_bgsave_status", "rdb_last_save_time",
    "rdb_changes_since_last_save", "aof_enabled", "aof_rewrite_in_progress",
    "aof_last_bgrewrite_status", "aof_last_write_status", "loading", "role",
)


@dataclass
class RedisInfo:
    """The INFO fields the cache checks use (all sections), plus a PING round trip."""

    fields: dict[str, Any]
    ping_ms: float

    def int(self, name: str) -> int:
        try:
            return int(self.fields.get(name) or 0)
        except (TypeError, ValueError):
            return 0

    @property
    def used_memory(self) -> int:
        return self.int("used_memory")

    @property
    def maxmemory(self) -> int:
        return self.int("maxmemory")

    @property
    def memory_pct(self) -> float | None:
        return 100.0 * self.used_memory / self.maxmemory if self.maxmemory else None

    @property
    def policy(self) -> str:
        return str(self.fields.get("maxmemory_policy", "unknown"))

    @property
    def hit_ratio(self) -> float | None:
        hits, misses = self.int("keyspace_hits"), self.int("keyspace_misses")
        return hits / (hits + misses) if hits + misses else None

    def summary(self) -> dict[str, Any]:
        out = {k: self.fields[k] for k in INFO_FIELDS if k in self.fields}
        out["ping_ms"] = round(self.ping_ms, 3)
        if self.memory_pct is not None:
            out["used_memory_pct_of_maxmemory"] = round(self.memory_pct, 2)
        if self.hit_ratio is not None:
            out["keyspace_hit_ratio"] = round(self.hit_ratio, 4)
        return out


def info(client: redis.Redis, *, target: str) -> RedisInfo:
    """INFO (every section) and one PING timed on the same connection."""
    redis_probe.call(client, "PING", target=target)  # connect first: time the round trip only
    t0 = time.perf_counter()
    redis_probe.call(client, "PING", target=target)
    ping_ms = (time.perf_counter() - t0) * 1000
    raw = redis_probe.call(client, "INFO", "everything", target=target)
    fields = raw if isinstance(raw, dict) else _parse_info(str(raw))
    return RedisInfo(fields=dict(fields), ping_ms=ping_ms)


def _parse_info(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            out[k] = v
    return out


@dataclass
class SlowEntry:
    id: int
    at: int
    duration_us: int
    command: str
    args: int


@dataclass
class Slowlog:
    length: int
    entries: list[SlowEntry] = field(default_factory=list)

    def since(self, epoch_s: float) -> list[SlowEntry]:
        return [e for e in self.entries if e.at >= epoch_s]


def slowlog(client: redis.Redis, *, target: str, count: int = 128) -> Slowlog:
    """SLOWLOG LEN and the newest ``count`` entries, without their arguments."""
    length = int(redis_probe.call(client, "SLOWLOG", "LEN", target=target) or 0)
    raw = redis_probe.call(client, "SLOWLOG", "GET", str(count), target=target) or []
    entries: list[SlowEntry] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):  # redis-py may parse entries into dicts
            cmd = item.get("command", b"")
            words = cmd.split() if isinstance(cmd, bytes | str) else list(cmd)
            entries.append(SlowEntry(int(item.get("id", 0)), int(item.get("start_time", 0)),
                                     int(item.get("duration", 0)), _word(words), len(words) - 1))
        elif isinstance(item, list | tuple) and len(item) >= 4:
            words = list(item[3]) if isinstance(item[3], list | tuple) else [item[3]]
            entries.append(SlowEntry(int(item[0]), int(item[1]), int(item[2]), _word(words),
                                     max(len(words) - 1, 0)))
    return Slowlog(length=length, entries=entries)


def _word(words: list[Any]) -> str:
    if not words:
        return "?"
    w = words[0]
    return (w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w)).upper()[:32]
