"""Redis health as INFO and SLOWLOG show it: read-only commands only.

Only ``INFO``, ``SLOWLOG GET``/``LEN``, ``PING`` and one ``CONFIG GET`` are sent, never a
write. CONFIG is often renamed or disabled on managed Redis, so only what INFO cannot tell is
asked that way (:func:`config_get`: the ``save`` points, which INFO does not show).
Slowlog entries are reduced to command name, argument count and duration: their arguments
are application data (keys, values) that do not belong in a report.
"""

from __future__ import annotations

import statistics
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
    "aof_last_bgrewrite_status", "aof_last_write_status", "loading", "role", "run_id",
    "server_time_usec",
)


@dataclass
class RedisInfo:
    """The INFO fields the cache checks use (all sections), plus a PING round trip."""

    fields: dict[str, Any]
    ping_ms: float
    observed_at: float = field(default_factory=time.time)

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

    @property
    def server_time(self) -> float:
        """The server's clock (``server_time_usec``, Redis >= 6.2), else ours: save ages are
        measured on the clock that wrote ``rdb_last_save_time``, immune to skew between hosts."""
        usec = self.int("server_time_usec")
        return usec / 1e6 if usec else self.observed_at

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


def config_get(client: redis.Redis, name: str, *, target: str) -> str:
    """``CONFIG GET name`` as one string; a renamed or ACL-denied CONFIG is a ProbeError."""
    raw = redis_probe.call(client, "CONFIG", "GET", name, target=target)
    if isinstance(raw, dict):
        return str(raw.get(name, ""))
    if isinstance(raw, list | tuple) and len(raw) >= 2:
        return str(raw[1])
    return ""


@dataclass
class PingSample:
    """Round trips of a few PINGs, spaced so each samples a different moment of the server."""

    rtts_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.rtts_ms)

    def summary(self) -> dict[str, Any]:
        return {"pings": len(self.rtts_ms), "median_ms": round(self.median_ms, 3),
                "min_ms": round(min(self.rtts_ms), 3), "max_ms": round(max(self.rtts_ms), 3),
                "rtts_ms": [round(r, 3) for r in self.rtts_ms]}


def ping_sample(client: redis.Redis, *, target: str, count: int = 5,
                spacing_s: float = 0.05) -> PingSample:
    """``count`` timed PINGs on a warm connection, ``spacing_s`` apart.

    Back-to-back PINGs would all land in the same gap between two slow commands and look
    fast; spacing them samples the server the way application requests meet it. The median
    ignores one unlucky scheduling hiccup on the client side.
    """
    redis_probe.call(client, "PING", target=target)  # connect and authenticate first
    rtts: list[float] = []
    for i in range(max(count, 1)):
        if i:
            time.sleep(spacing_s)
        t0 = time.perf_counter()
        redis_probe.call(client, "PING", target=target)
        rtts.append((time.perf_counter() - t0) * 1000)
    return PingSample(rtts)


# --- counters between runs ----------------------------------------------------------------------
def snapshot(obs: RedisInfo, counters: tuple[str, ...]) -> dict[str, float]:
    """The numbers a check stores in its history: the counters plus what identifies the
    server instance (run_id's first 48 bits, exact in a float; uptime), so that a restart or
    CONFIG RESETSTAT, which zero the counters, is never read as a negative change."""
    run_id = str(obs.fields.get("run_id") or "")
    try:
        run48 = float(int(run_id[:12], 16)) if run_id else 0.0
    except ValueError:
        run48 = 0.0
    return {"run_id48": run48, "uptime_s": float(obs.int("uptime_in_seconds")),
            **{c: float(obs.int(c)) for c in counters}}


@dataclass
class CounterWindow:
    """How much each counter grew over a window, and which window that was."""

    deltas: dict[str, int]
    #: "previous run" (a stored record of the same server), "server start" (first run, or the
    #: server restarted since), "stats reset" (CONFIG RESETSTAT since the previous run).
    since: str
    previous_at: str | None = None
    previous_age_s: float | None = None

    def describe(self) -> str:
        if self.since == "previous run" and self.previous_age_s is not None:
            return f"since the previous run {_duration(self.previous_age_s)} ago"
        if self.since == "server restart":
            return "since the server restarted (after the previous run)"
        if self.since == "stats reset":
            return "since the counters were reset (CONFIG RESETSTAT, after the previous run)"
        return "since the server started (no previous run recorded)"

    def summary(self) -> dict[str, Any]:
        return {"window": self.since, "previous_run_at": self.previous_at,
                "previous_run_age_s": None if self.previous_age_s is None
                else round(self.previous_age_s), **{f"{k}_delta": v
                                                     for k, v in self.deltas.items()}}


def window(previous: Any, current: dict[str, float], counters: tuple[str, ...]) -> CounterWindow:
    """Counter growth since ``previous`` (an :class:`opsverify.history.Record` or None).

    A different run_id or a smaller uptime means the server restarted: the current values are
    then what accumulated since the restart (a lower bound of the growth since the previous
    run). A counter that went down on the same instance means CONFIG RESETSTAT: likewise.
    """
    cur = {c: int(current[c]) for c in counters}
    if previous is None:
        return CounterWindow(cur, "server start")
    prev = previous.values
    at = previous.at.isoformat(timespec="seconds")
    age = previous.age_s()
    restarted = (prev.get("run_id48") != current["run_id48"]
                 or current["uptime_s"] < prev.get("uptime_s", 0.0))
    if restarted:
        return CounterWindow(cur, "server restart", at, age)
    if any(cur[c] < int(prev.get(c, 0)) for c in counters):
        return CounterWindow(cur, "stats reset", at, age)
    return CounterWindow({c: cur[c] - int(prev.get(c, 0)) for c in counters},
                         "previous run", at, age)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
