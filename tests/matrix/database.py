"""Database rows. The sandbox sets long_query_s, idle_in_transaction_s and lock_wait_s to 2 s;
``settle_s`` lets the held sessions age past them.

DB-009 (growth since the previous run) needs a previous record: the healthy run of the whole
catalog (test_healthy_sandbox_passes_every_check, which runs before the fault rows) and every
earlier database row store one in the sandbox's history_dir. Select it with the row:
``pytest tests/test_fault_matrix.py -k "pg_db_grows or healthy"``; alone, DB-009 only stores
the baseline and skips, and the row fails. A row that grows the database for its own fault
(pg_cache_thrash: a 40 MB table) makes DB-009 fail too: a real growth, tolerated there; the
row after it compares against the grown record and passes (shrinking is fine).
"""

from tests.matrix import Row

ROWS = [
    Row(fault="pg_connections_near_max", catches={"DB-001": "max_connections"}),
    Row(fault="pg_long_query", catches={"DB-002": "running longer than long_query_s"},
        settle_s=2.0),
    Row(fault="pg_idle_in_transaction", catches={"DB-003": "idle in transaction"},
        settle_s=2.0),
    # The blocker is itself idle in transaction, and the blocked UPDATE is a long query.
    Row(fault="pg_lock_wait", catches={"DB-004": "waiting on a lock"},
        tolerates=("DB-002", "DB-003"), settle_s=2.0),
    Row(fault="pg_slow_statements", catches={"DB-005": "slow_statement_mean_ms"}),
]
ROWS += [
    Row(fault="pg_cache_thrash", catches={"DB-006": "buffer cache hit ratio"},
        tolerates=("DB-009",)),
    Row(fault="pg_autovacuum_off", catches={"DB-007": "dead rows, last vacuum never"}),
]
ROWS += [
    # The message must name the culprit, not only the age.
    Row(fault="pg_xid_wraparound_near",
        catches={"DB-008": "holding back freezing: replication slot 'opsverify_forgotten_cdc'"}),
    # Every block the import adds counts as a read in pg_stat_database: the hit ratio of a
    # freshly reset sandbox may drop under 90 % with it (collateral, reset by the revert).
    Row(fault="pg_db_grows", catches={"DB-009": "above db_growth_max_pct"},
        tolerates=("DB-006",)),
    # Both limits: ~50 MB of WAL unreplayed (replication_lag_mb 32) and, after settle_s, more
    # than replication_lag_s 4 s of replay lag (it grows with the time replay stays paused).
    Row(fault="pg_replica_replay_paused",
        catches={"DB-010": "MB of WAL behind the primary (replication_lag_mb 32)"},
        settle_s=3.5),
    Row(fault="pg_replica_down",
        catches={"DB-010": "replica standby1 is not connected to the primary"}),
]
