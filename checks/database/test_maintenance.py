"""Buffer cache efficiency and table maintenance (vacuum, analyze)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import pg_stats

#: below this many block accesses since the statistics reset, a ratio says nothing yet
MIN_BLOCK_ACCESSES = 1000


@check(
    id="DB-006",
    title="The PostgreSQL buffer cache hit ratio stays above the minimum",
    severity="minor",
    schedules=["daily"],
    targets="postgres",
    rationale="""Reads that miss shared_buffers go to the OS cache or the disk; a hit ratio
        under 90 % on an OLTP database means the working set no longer fits in memory, or
        large sequential scans push it out, and every query slows down.""",
    remediation="""Runbook 'Performance Tuning': find the tables read from disk
        (pg_statio_user_tables by heap_blks_read), add the index that avoids the sequential
        scan, and size shared_buffers / effective_cache_size to the working set.""",
    references=["runbook 000 DICOM viewer: Performance Tuning (shared_buffers, "
                "effective_cache_size)"],
)
def test_buffer_cache_hit_ratio(target: Any, inventory: Inventory,
                                pg_session: psycopg.Connection[Any]) -> None:
    minimum = inventory.threshold("cache_hit_ratio_min", target)
    attach_threshold(cache_hit_ratio_min=minimum)
    obs = pg_stats.cache_hits(pg_session, target=target.name)
    attach("buffer cache", {**obs.__dict__, "ratio": obs.ratio})
    if obs.accesses < MIN_BLOCK_ACCESSES:
        pytest.skip(f"{target.name}: only {obs.accesses} block accesses in {obs.database} "
                    f"since the statistics reset ({obs.stats_reset}): too few to judge")
    ratio = obs.ratio or 0.0
    assert ratio >= minimum, (
        f"{target.name}: buffer cache hit ratio of {obs.database} is {ratio:.1%} "
        f"({obs.blocks_read} blocks read from outside shared_buffers, {obs.blocks_hit} hits), "
        f"below cache_hit_ratio_min {minimum:.0%}")


@check(
    id="DB-007",
    title="Tables past autovacuum's trigger were vacuumed and analyzed within the age limit",
    severity="normal",
    schedules=["weekly"],
    targets="postgres",
    rationale="""Dead rows that are never vacuumed bloat tables and indexes, and stale
        statistics make the planner choose bad plans. Autovacuum should handle both; a table
        past its trigger with no (auto)vacuum or analyze for a week means autovacuum is
        disabled for it, blocked by a long transaction, or cannot keep up. The runbooks run
        VACUUM ANALYZE by hand for this.""",
    remediation="""Runbook 'Database maintenance': run VACUUM (ANALYZE) on the listed tables,
        re-enable autovacuum where it was switched off (ALTER TABLE ... RESET
        (autovacuum_enabled)), and look for long transactions holding back cleanup.""",
    references=["runbook 002 AlloDoc: Analyze and vacuum database (monthly)",
                "runbook 004 Medical Device Regulatory Assistant: Vacuum database"],
)
def test_tables_vacuumed_and_analyzed(target: Any, inventory: Inventory,
                                      pg_session: psycopg.Connection[Any]) -> None:
    max_days = inventory.threshold("vacuum_max_age_days", target)
    attach_threshold(vacuum_max_age_days=max_days)
    late = pg_stats.overdue_maintenance(pg_session, max_days, target=target.name)
    attach("tables overdue for vacuum or analyze", late)

    def why(t: pg_stats.TableMaintenance) -> str:
        parts = []
        if t.vacuum_due:
            parts.append(f"{t.dead} dead rows, last vacuum "
                         f"{'never' if t.last_vacuum is None else f'{t.vacuum_age_days} days ago'}")
        if t.analyze_due:
            parts.append(f"{t.modified_since_analyze} rows changed since the last analyze "
                         f"({'never' if t.last_analyze is None else f'{t.analyze_age_days} d'})")
        off = ", autovacuum disabled on the table" if t.autovacuum_disabled else ""
        return f"{t.table}: {'; '.join(parts)}{off}"

    assert not late, (
        f"{target.name}: {len(late)} table(s) past autovacuum's trigger without vacuum or "
        f"analyze for vacuum_max_age_days {max_days:g}: " + " | ".join(why(t) for t in late[:3]))
