"""A backup is only proven by restoring it: the restore drill."""

from __future__ import annotations

from fixtures.backups import backups_with_restore, listing_of, restore_budget_s
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import restore as restore_probe


@check(
    id="BKP-006",
    title="The newest database dump restores into a scratch database within the RTO",
    severity="critical",
    schedules=["weekly", "monthly"],
    targets=backups_with_restore,
    budget_s=restore_budget_s,
    rationale="Runbooks 000 and 002 prescribe a weekly test restore because a dump can be "
              "complete, checksummed and still useless: schema only, an empty table, objects "
              "that need roles the restore server lacks. The drill restores the newest dump "
              "into a scratch database (created for the run, always dropped), checks the "
              "declared row counts and measures the restore against the RTO (30 min, runbook "
              "002).",
    remediation="Read the drill's error and row counts in the evidence. A failed restore or "
                "empty table: fix the backup job (database, pg_dump options, table filters) and "
                "take a new dump, keeping older good dumps out of rotation. Too slow for the "
                "RTO: use the custom format with parallel restore (pg_restore -j), faster "
                "storage, or revise the RTO with the service owner.",
    references=["runbook 000 Weekly Maintenance: Test restore to temporary database",
                "runbook 002 Recovery Time Objectives: database restore 30 minutes",
                "runbook 003 Backup Restoration: SELECT COUNT(*) FROM users"],
)
def test_newest_dump_restores(target, inventory):
    rto_min = inventory.threshold("rto_min", target)
    timeout_s = inventory.threshold("timeout_s", target)
    listing = listing_of(inventory, target)
    newest = listing.newest
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: nothing to "
        "restore")
    pg = inventory.postgres_by_name(target.restore.postgres)
    attach_threshold(rto_min=rto_min, min_rows=target.restore.min_rows)
    obs = restore_probe.drill(
        newest.path, target.format, pg.restore_dsn or pg.dsn, target=target.name,
        server=pg.name, min_rows=target.restore.min_rows, jobs=target.restore.jobs,
        rto_s=rto_min * 60, timeout_s=timeout_s)
    attach("restore drill", obs.summary())
    assert obs.restored, (
        f"{target.name}: restore of {newest.name} into scratch database {obs.scratch_db} on "
        f"{pg.name} failed after {obs.restore_s}s: {obs.error}")
    missing = [t for t, n in obs.row_counts.items() if n is None]
    assert not missing, (
        f"{target.name}: {newest.name} restored but table(s) {', '.join(missing)} do not exist "
        f"in it ({len(obs.tables)} tables restored)")
    short = {t: n for t, n in obs.row_counts.items()
             if n is not None and n < target.restore.min_rows[t]}
    assert not short, (
        f"{target.name}: {newest.name} restored but " + "; ".join(
            f"table {t} has {n} rows, expected at least {target.restore.min_rows[t]}"
            for t, n in short.items()) + " (schema-only dump, or taken from an emptied table?)")
    assert obs.restore_s is not None and obs.restore_s <= rto_min * 60, (
        f"{target.name}: restore of {newest.name} took {obs.restore_s / 60:.1f} min, RTO "
        f"{rto_min:g} min")
