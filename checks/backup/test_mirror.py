"""A second copy of the newest backup exists elsewhere and is identical."""

from __future__ import annotations

from pathlib import Path

from fixtures.backups import backups_with_mirror, listing_of, read_budget_s
from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach


@check(
    id="BKP-010",
    title="The newest backup has an identical second copy in the mirror location",
    severity="normal",
    schedules=["daily"],
    targets=backups_with_mirror,
    budget_s=read_budget_s,
    rationale="A backup on the same disk or host as the database is lost with it; runbook "
              "002 keeps a secondary copy (S3) and runbook 001 an rsync mirror. A copy that "
              "differs (partial transfer) is as bad as none.",
    remediation="Check the copy/sync job (rsync, aws s3 cp) and its credentials; copy the "
                "newest backup now and compare checksums (sha256sum on both sides).",
    references=["runbook 002 Backup Locations: Secondary", "runbook 001 DICOM Files Backup: rsync"],
)
def test_newest_backup_is_mirrored(target, inventory, backup_hashes):
    listing = listing_of(inventory, target)
    newest = listing.newest
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: nothing to "
        "mirror")
    mirror_dir = inventory.resolve_path(target.mirror)
    copy = mirror_dir / newest.name
    evidence = {"newest": newest.summary(listing.observed_at), "mirror": str(copy),
                "mirror_dir_exists": mirror_dir.is_dir()}
    if not mirror_dir.is_dir():
        attach("mirror", evidence)
        raise ProbeError(target.name, f"mirror location {mirror_dir} is not a reachable "
                                      "directory (not mounted?)")
    exists = Path(copy).is_file()
    evidence["copy_exists"] = exists
    if exists:
        evidence["sha256_newest"] = backup_hashes.sha256(newest.path, target=target.name)
        evidence["sha256_copy"] = backup_hashes.sha256(copy, target=target.name)
    attach("mirror", evidence)
    assert exists, (
        f"{target.name}: no copy of the newest backup {newest.name} in the mirror {mirror_dir}")
    assert evidence["sha256_newest"] == evidence["sha256_copy"], (
        f"{target.name}: mirror copy {copy} differs from {newest.name} (SHA-256 mismatch): an "
        "incomplete or stale transfer")
