"""Dependencies the application cannot run without: PostgreSQL and Redis answer in time.

Each check opens a fresh connection on purpose (the runbooks' ``pg_isready`` / ``redis-cli
ping``): a pooled connection would keep "working" for a while after the server stopped
accepting new clients, which is exactly what a restarted application would hit.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

import time

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory, Postgres, Redis
from opsverify.probes import postgres as pg_probe
from opsverify.probes import redis as redis_probe


@check(
    id="HLT-003",
    title="PostgreSQL accepts an authenticated session and answers SELECT 1 in time",
    severity="blocker",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets="postgres",
    rationale="""Every request of the application needs the database; the runbooks start
        each incident with pg_isready. Connecting, authenticating and running a query proves
        more than an open port: the server accepts new sessions (not in recovery-only or
        connection-exhausted state) and the monitoring credentials still work.""",
    remediation="""Check the PostgreSQL service and its log (systemctl status postgresql /
        docker logs database): restart it if it is down, free connections if
        max_connections is exhausted, fix pg_hba.conf or the rotated password if
        authentication fails.""",
    references=["runbook 000 DICOM viewer: Database checks (pg_isready)"],
)
def test_postgres_answers(target: Postgres, inventory: Inventory) -> None:
    timeout_s = inventory.threshold("timeout_s", target)
    start = time.perf_counter()
    with pg_probe.connect(target.dsn, target=target.name, timeout_s=timeout_s) as conn:
        rows = pg_probe.query(
            conn,
            "SELECT 1 AS ok, current_setting('server_version') AS server_version, "
            "pg_is_in_recovery() AS in_recovery, current_database() AS database, "
            "current_user AS role",
            target=target.name,
        )
    elapsed_s = time.perf_counter() - start
    row = rows[0] if rows else {}
    attach("postgres", {**row, "elapsed_ms": round(elapsed_s * 1000, 1)})
    attach_threshold(timeout_s=timeout_s)
    assert row.get("ok") == 1, f"{target.name}: SELECT 1 returned {row.get('ok')!r}, expected 1"
    assert elapsed_s <= timeout_s, (
        f"{target.name}: connect + SELECT 1 took {elapsed_s:.1f}s, limit {timeout_s:g}s")


@check(
    id="HLT-004",
    title="Redis answers an authenticated PING in time",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets="redis",
    rationale="""Sessions, caches and job queues live in Redis: when it is down or refuses
        the application's credentials, logins and background jobs fail although the web
        tier looks healthy.""",
    remediation="""Check the Redis service and its log (systemctl status redis /
        docker logs redis): restart it if it is down; if authentication fails, compare the
        requirepass / ACL with the application's REDIS_URL secret.""",
    references=["runbook 000 DICOM viewer: Redis checks (redis-cli ping)"],
)
def test_redis_answers(target: Redis, inventory: Inventory) -> None:
    timeout_s = inventory.threshold("timeout_s", target)
    client = redis_probe.connect(target.url, target=target.name, timeout_s=timeout_s)
    try:
        start = time.perf_counter()
        pong = redis_probe.call(client, "PING", target=target.name)
        elapsed_s = time.perf_counter() - start
        server = redis_probe.call(client, "INFO", "server", target=target.name)
        replication = redis_probe.call(client, "INFO", "replication", target=target.name)
    finally:
        client.close()
    info_s = server if isinstance(server, dict) else {}
    info_r = replication if isinstance(replication, dict) else {}
    attach("redis", {"ping": pong, "elapsed_ms": round(elapsed_s * 1000, 1),
                     "redis_version": info_s.get("redis_version"),
                     "uptime_s": info_s.get("uptime_in_seconds"),
                     "role": info_r.get("role"),
                     "connected_slaves": info_r.get("connected_slaves")})
    attach_threshold(timeout_s=timeout_s)
    assert pong in (True, "PONG"), f"{target.name}: PING answered {pong!r}, expected PONG"
    assert elapsed_s <= timeout_s, (
        f"{target.name}: PING took {elapsed_s:.1f}s, limit {timeout_s:g}s")
