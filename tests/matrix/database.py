"""Database rows. The sandbox sets long_query_s, idle_in_transaction_s and lock_wait_s to 2 s;
``settle_s`` lets the held sessions age past them."""

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
    Row(fault="pg_cache_thrash", catches={"DB-006": "buffer cache hit ratio"}),
    Row(fault="pg_autovacuum_off", catches={"DB-007": "dead rows, last vacuum never"}),
]
