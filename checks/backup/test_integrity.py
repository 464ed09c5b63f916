"""The newest backup reads back completely: gzip CRC, every tar member, every dump block."""

from __future__ import annotations

from fixtures.backups import (
    archives_with_expected_paths,
    backups_listed,
    integrity_of,
    listing_of,
    read_budget_s,
)
from opsverify.catalog import check
from opsverify.evidence import attach

_HOW = {
    "pg_plain_gz": "decompressed to the end (CRC checked) and ends with pg_dump's closing line",
    "pg_plain": "ends with pg_dump's closing line",
    "pg_custom": "pg_restore --list reads its table of contents and every data block reads back",
    "tar_gz": "every archive member reads back and the gzip CRC matches",
}


@check(
    id="BKP-003",
    title="The newest backup file is complete and reads back without error",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets=backups_listed,
    budget_s=read_budget_s,
    rationale="A dump cut short (disk full, killed job, interrupted copy) or a damaged archive "
              "is only discovered during a restore, when it is too late. Runbook 002 verifies "
              "dumps with pg_restore --list; that alone passes a truncated custom dump, so the "
              "data blocks are read too.",
    remediation="Do not rely on this file: take a new backup now and verify it; check the "
                "backup volume for free space and I/O errors (dmesg) and the job log for a "
                "killed pg_dump/tar; keep the previous good backup out of rotation.",
    references=["runbook 002 Backup Operations: pg_restore --list",
                "runbook 000 Weekly Maintenance: Verify backup integrity"],
)
def test_newest_backup_reads_back(target, inventory, backup_integrity_cache):
    listing = listing_of(inventory, target)
    newest = listing.newest
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: nothing to "
        "verify")
    obs = integrity_of(inventory, target, newest, backup_integrity_cache)
    attach("integrity", obs.summary())
    assert obs.ok, (
        f"{target.name}: newest backup {newest.name} ({newest.size} bytes) is damaged: "
        f"{obs.problem}; expected: {_HOW.get(target.format, target.format)}")


@check(
    id="BKP-009",
    title="The newest file archive contains the paths the inventory expects",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets=archives_with_expected_paths,
    budget_s=read_budget_s,
    rationale="An archive of the wrong directory (a changed working directory, a moved upload "
              "folder) is a valid tar.gz of normal size that restores nothing the users "
              "uploaded; runbook 000 archives server/uploads/ and never looks inside.",
    remediation="Check the archive job's source path against the application's upload "
                "directory (tar -tzf NEWEST | head); fix the path, take a new archive now.",
    references=["runbook 000 Manual Backup: Files only",
                "runbook 001 DICOM Files Backup"],
)
def test_archive_holds_expected_paths(target, inventory, backup_integrity_cache):
    listing = listing_of(inventory, target)
    newest = listing.newest
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: nothing to "
        "look into")
    obs = integrity_of(inventory, target, newest, backup_integrity_cache)
    attach("archive", obs.summary())
    missing = [p for p, seen in obs.expected_paths.items() if not seen]
    unreadable = f" (archive unreadable after {obs.members} members)" if not obs.ok else ""
    assert not missing, (
        f"{target.name}: newest archive {newest.name} lacks {', '.join(missing)} "
        f"among its {obs.members} members{unreadable}; first members: "
        f"{', '.join(obs.member_sample[:5]) or 'none'}")
