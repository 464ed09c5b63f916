"""Cache rows: Redis memory, eviction policy, slowlog and persistence."""

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
