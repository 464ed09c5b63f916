"""Cache rows: Redis memory, eviction policy, evictions, hit ratio, slowlog, persistence, PING."""

from tests.matrix import Row

ROWS = [
    Row(fault="redis_near_maxmemory_noeviction",
        catches={"CCH-001": "redis_memory_max_pct", "CCH-002": "noeviction"}),
    Row(fault="redis_slowlog_flood", catches={"CCH-004": "slow commands"}),
    Row(fault="redis_failed_save", catches={"CCH-003": "rdb_last_bgsave_status err"}),
]
ROWS += [
    Row(fault="redis_clients_near_max", catches={"CCH-005": "maxclients"}),
]
# CCH-006 judges evictions since the previous run: the healthy run (or any earlier cache row)
# records the baseline, so select this row together with them (-k "redis_evictions or healthy").
ROWS += [
    Row(fault="redis_evictions", catches={"CCH-006": "keys evicted since the previous run"}),
    Row(fault="redis_connections_rejected",
        catches={"CCH-010": "connections rejected since the previous run"}),
    Row(fault="redis_miss_burst", catches={"CCH-007": "below redis_hit_rate_min"}),
    Row(fault="redis_save_points_never_fire",
        catches={"CCH-008": "are not on disk: the last successful RDB save"}),
    # The busy scripts are slow commands too: the slowlog check rightly reports them.
    Row(fault="redis_busy_server", catches={"CCH-009": "median PING round trip"},
        tolerates=("CCH-004",)),
]
