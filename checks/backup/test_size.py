"""The newest backup is not suspiciously small: a dump of an emptied database is still a
valid file, so only its size against history gives it away."""

from __future__ import annotations

from fixtures.backups import backups_listed, listing_of
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import backups as backups_probe


@check(
    id="BKP-002",
    title="The newest backup has not shrunk against its recent history",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets=backups_listed,
    rationale="A backup of an emptied or wrongly selected database restores without error and "
              "passes every integrity check; its size collapsing against the previous backups "
              "is the earliest sign. The runbooks only list the folder (runbook 000), which "
              "shows the file but not that it is a fraction of yesterday's.",
    remediation="Compare the newest dump with the previous one (zcat | grep -c 'COPY', table "
                "row counts in the source database); check the backup job's database name, "
                "credentials and table filters; if the source data was lost, stop rotation so "
                "older good backups are not deleted, then restore.",
    references=["runbook 000 Backup Operations", "issue 5: size sanity"],
)
def test_newest_backup_size_is_plausible(target, inventory):
    drop_pct = inventory.threshold("backup_size_drop_pct", target)
    listing = listing_of(inventory, target)
    newest = listing.newest
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: nothing to "
        "size-check")
    obs = backups_probe.size_history(listing, min_size=target.min_size)
    attach("size", obs.summary())
    attach_threshold(min_size_bytes=target.min_size or 1, size_drop_pct=drop_pct)
    assert newest.size > 0, f"{target.name}: newest backup {newest.name} is empty (0 bytes)"
    if obs.median_previous_bytes:
        floor = obs.median_previous_bytes * drop_pct / 100
        assert newest.size >= floor, (
            f"{target.name}: newest backup {newest.name} is {newest.size} bytes, "
            f"{100 * newest.size / obs.median_previous_bytes:.1f}% of the median of the "
            f"previous {len(obs.previous)} ({obs.median_previous_bytes:.0f} bytes); threshold "
            f"{drop_pct:g}%: the backup collapsed (emptied database or wrong source?)")
    if target.min_size:
        assert newest.size >= target.min_size, (
            f"{target.name}: newest backup {newest.name} is {newest.size} bytes, below the "
            f"declared minimum of {target.min_size} bytes")
