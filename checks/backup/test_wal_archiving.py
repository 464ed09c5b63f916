"""WAL archiving keeps the transaction logs within the recovery point objective.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.

The rule, and why an idle server is not a finding: PostgreSQL hands a WAL segment to the
archiver when the segment is complete - when it is full, or when ``archive_timeout`` forces a
switch because it holds writes. So with archiving on, an archive_timeout no longer than the RPO,
no failed attempt since the last success, and no completed segment waiting longer than the RPO,
every write is archived within the RPO. An idle server archives nothing for hours and that is
fine: it has nothing un-archived. "Last archived 3 hours ago" alone is therefore not judged;
what is judged is a failure, a waiting segment, or a configuration that cannot meet the RPO.
"""

from __future__ import annotations

from typing import Any

import psycopg

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory, Postgres
from opsverify.probes import wal_archive


def postgres_archiving(inventory: Inventory) -> list[tuple[str, Postgres]]:
    """postgres items with wal_archive: true"""
    return [(p.name, p) for p in inventory.postgres if p.wal_archive]


def _t(obs: wal_archive.WalArchiveObservation, when: Any) -> str:
    age = obs.age_s(when)
    return "never" if when is None else f"{when:%Y-%m-%d %H:%M:%S %Z} ({age / 60:.0f} min ago)"


@check(
    id="BKP-011",
    title="WAL archiving works and keeps un-archived transactions within the RPO",
    severity="critical",
    schedules=["daily", "predeploy", "smoke"],
    targets=postgres_archiving,
    rationale="""The nightly dump alone loses up to a day of data; point-in-time recovery
        from archived WAL is what brings the loss down to the runbook's 1 hour for
        transaction logs (runbook 002, Recovery Point Objectives). A failing archive_command
        is silent: the server keeps running, WAL piles up in pg_wal until the disk is full,
        and the gap is only found on the day of a restore.""",
    remediation="""Read the server log for 'archive command failed' (the exit code and
        the command's own error); test the command by hand as the postgres user on the
        newest file in pg_wal; fix the destination (mounted? writable? full? credentials?),
        then `SELECT pg_reload_conf(); SELECT pg_switch_wal();` and watch
        pg_stat_archiver.last_archived_time move. Keep archive_mode = on and
        archive_timeout no longer than the RPO (e.g. 5min).""",
    references=["runbook 002 AlloDoc: Recovery Point Objectives (transaction logs: 1 hour)",
                "PostgreSQL 15 docs 26.3 Continuous Archiving and Point-in-Time Recovery"],
)
def test_wal_archiving_within_rpo(target: Postgres, inventory: Inventory,
                                  pg_session: psycopg.Connection[Any]) -> None:
    rpo = inventory.threshold("wal_archive_max_age_s", target)
    attach_threshold(wal_archive_max_age_s=rpo)
    obs = wal_archive.observe(pg_session, target=target.name)
    attach("wal_archiving", obs.summary())
    assert obs.archive_mode in ("on", "always"), (
        f"{target.name}: archive_mode is '{obs.archive_mode}': no WAL is archived, so a "
        "restore can only go back to the last dump, not to within the RPO "
        f"({rpo / 60:g} min)")
    if obs.in_recovery:
        assert obs.archive_mode == "always", (
            f"{target.name}: the server is a standby with archive_mode '{obs.archive_mode}': "
            "a standby archives only with archive_mode = always")
    assert obs.command_set, (
        f"{target.name}: archive_mode is on but neither archive_command nor archive_library "
        "is set: completed WAL segments pile up in pg_wal and nothing is archived")
    assert not obs.failing, (
        f"{target.name}: WAL archiving is failing: the last attempt "
        f"({obs.last_failed_wal}, {_t(obs, obs.last_failed_time)}) failed after the last "
        f"success ({obs.last_archived_wal or 'none'}, {_t(obs, obs.last_archived_time)}); "
        f"{obs.failed_count} failed attempts since the statistics were reset")
    waiting = obs.age_s(obs.oldest_ready_time)
    assert waiting is None or waiting <= rpo, (
        f"{target.name}: {obs.ready_segments} completed WAL segment(s) wait for the "
        f"archiver, the oldest for {waiting / 60:.0f} min (RPO {rpo / 60:g} min): the "
        "archiver is stuck or too slow")
    assert 0 < obs.archive_timeout_s <= rpo, (
        f"{target.name}: archive_timeout is {obs.archive_timeout_s:g} s"
        + (" (off)" if obs.archive_timeout_s == 0 else "")
        + f": on a quiet server writes stay in the open WAL segment, un-archived, for longer "
        f"than the RPO ({rpo:g} s); set archive_timeout to at most the RPO")
