"""Backups are recent enough for the recovery point objective (RPO)."""

from __future__ import annotations

from fixtures.backups import backups_listed, listing_of
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold


@check(
    id="BKP-001",
    title="The newest backup is younger than the recovery point objective",
    severity="critical",
    schedules=["daily", "predeploy", "smoke"],
    targets=backups_listed,
    rationale="Every runbook's recovery starts from last night's backup; a backup job that "
              "silently stopped is only noticed on the day it is needed. RPO: at most 24 h "
              "of data loss (runbook 002, 'Recovery Point Objectives').",
    remediation="Check the backup job (cron/systemd timer, its log and exit status) and the "
                "free space of the backup volume; run a manual backup now "
                "(runbook 000 'Manual Backup'), then find why the schedule did not run.",
    references=["runbook 002 Backup & Recovery: RPO 24 hours",
                "runbook 000 Daily Health Check: Verify backup completion"],
)
def test_newest_backup_is_fresh(target, inventory):
    # the item's own max_age_h, else thresholds.backup_max_age_h, else the runbook's 24 h
    max_age_h = inventory.threshold("backup_max_age_h", target)
    listing = listing_of(inventory, target)
    attach("backups", listing.summary())
    attach_threshold(max_age_h=max_age_h)
    newest = listing.newest
    assert listing.exists, (
        f"{target.name}: backup directory {listing.directory} does not exist: no backup at "
        f"all (RPO {max_age_h:g} h)")
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: no backup "
        f"at all (RPO {max_age_h:g} h)")
    age_h = newest.age_h(listing.observed_at)
    # per-day layout: newer day folders without the file say where the job stopped
    newer_empty = [f for f in listing.folders_without_file if f > newest.name.split("/")[0]]
    assert age_h <= max_age_h, (
        f"{target.name}: newest backup {newest.name} is {age_h:.1f} hours old "
        f"(written {newest.modified:%Y-%m-%d %H:%M %Z}), threshold {max_age_h:g} h: "
        "the backup job has not produced a backup since"
        + (f" (folder(s) {', '.join(newer_empty)} hold no {target.pattern.split('/')[-1]})"
           if newer_empty else ""))
