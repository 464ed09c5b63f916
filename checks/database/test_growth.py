"""Database size judged between runs: unusual growth since the previous run.

The runbooks read pg_database_size during incidents ("check database size"); a size alone says
little (10 GB is fine for one system, alarming for another), its change since last week says
a lot: a job that logs into a table, a runaway import, bloat from a vacuum that stopped. Each
run stores the size in the run history (``history`` fixture, one record per target and
database) and judges the growth since the previous record. Shrinking is never a finding.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.history import History
from opsverify.inventory import Inventory
from opsverify.probes import pg_stats

MB = 2**20
TREND_RECORDS = 8


def _mb(n: float) -> str:
    return f"{n / MB:,.1f} MB"


@check(
    id="DB-009",
    title="The database grew by no more than db_growth_max_pct since the previous run",
    severity="normal",
    schedules=["weekly"],
    targets="postgres",
    rationale="""Disks fill up from the database first, and a database that suddenly grows
        faster than usual is a symptom before it is an outage: a job writing into a log
        table, a runaway import or upload loop, bloat from dead rows nobody vacuums. The
        runbooks check pg_database_size during incidents; comparing it with the previous
        week finds the growth while there is still room. Both a relative limit
        (db_growth_max_pct) and an absolute floor (db_growth_min_mb) must be exceeded, so a
        small database growing from 2 MB to 3 MB is not a finding.""",
    remediation="""Find what grew: the largest relations (SELECT relname,
        pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class ORDER BY
        pg_total_relation_size(oid) DESC LIMIT 10) and the tables with the most dead rows
        (pg_stat_user_tables.n_dead_tup). Stop the runaway writer, purge or partition what is
        kept too long, VACUUM the bloated tables, and check the disk headroom (RES-001) and
        the backup size (BKP checks) for the same growth. If the growth is expected (a
        migration, a new feature), it passes on the next run against the new baseline.""",
    references=["runbook 000 DICOM viewer: Database Issues (pg_database_size)",
                "runbook 002 AlloDoc: Quick Reference (SELECT pg_database_size)",
                "runbook 004 Medical Device Regulatory Assistant: Check database size"],
)
def test_database_growth_since_previous_run(target: Any, inventory: Inventory,
                                            pg_session: psycopg.Connection[Any],
                                            history: History) -> None:
    max_pct = inventory.threshold("db_growth_max_pct", target)
    min_mb = inventory.threshold("db_growth_min_mb", target)
    attach_threshold(db_growth_max_pct=max_pct, db_growth_min_mb=min_mb)
    obs = pg_stats.database_size(pg_session, target=target.name)
    key = f"DB-009/{target.name}/{obs.database}"
    previous = history.exchange(key, {"bytes": float(obs.bytes)})
    trend = [{"at": r.at.isoformat(timespec="seconds"), "mb": round(r.values["bytes"] / MB, 2)}
             for r in history.records(key)[-TREND_RECORDS:] if "bytes" in r.values]
    evidence: dict[str, Any] = {"database": obs.database, "bytes_now": obs.bytes,
                                "trend_last_runs": trend}
    if previous is None or "bytes" not in previous.values:
        attach("database size", evidence)
        pytest.skip(f"{target.name}: no previous run recorded for database {obs.database}; "
                    f"stored the baseline now ({_mb(obs.bytes)}): the next run judges the "
                    "growth since")
    before = previous.values["bytes"]
    growth = obs.bytes - before
    pct = 100.0 * growth / before if before > 0 else float("inf")
    days = max(previous.age_s() / 86400, 1e-9)
    evidence.update({"bytes_previous": int(before), "previous_at": previous.at.isoformat(),
                     "elapsed_h": round(days * 24, 2), "growth_bytes": int(growth),
                     "growth_pct": round(pct, 2), "growth_mb_per_day": round(growth / MB / days,
                                                                            2)})
    attach("database size", evidence)
    assert not (pct > max_pct and growth >= min_mb * MB), (
        f"{target.name}: database {obs.database} grew from {_mb(before)} to {_mb(obs.bytes)} "
        f"(+{_mb(growth)}, +{pct:.0f}%) since the previous run {previous.at:%Y-%m-%d %H:%M} "
        f"UTC ({days * 24:.1f} h ago), above db_growth_max_pct {max_pct:g}% and "
        f"db_growth_min_mb {min_mb:g}")
