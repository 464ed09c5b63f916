"""Backups match the checksums recorded when they were written."""

from __future__ import annotations

from fixtures.backups import backups_with_checksums, listing_of, read_budget_s
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes import backups as backups_probe

_REMEDIATION = (
    "Find out what changed the file after it was written (storage errors: dmesg, SMART, "
    "filesystem scrub; or someone rewrote it); do not restore from a file that fails its "
    "checksum: take a new backup, and verify the mirror copy against the manifest."
)


@check(
    id="BKP-004",
    title="The newest backup is listed in the checksum manifest and matches it",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets=backups_with_checksums,
    budget_s=read_budget_s,
    rationale="A checksum written at backup time is the only proof that the file restored "
              "months later is the file that was written: silent corruption, a partial copy "
              "or tampering all change it. An unlisted newest backup means the job stopped "
              "before recording it.",
    remediation=_REMEDIATION,
    references=["issue 5: checksums manifest (SHA256SUMS)"],
)
def test_newest_backup_matches_manifest(target, inventory, backup_hashes):
    listing = listing_of(inventory, target)
    newest = listing.newest
    assert newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: nothing to "
        "verify")
    obs = backups_probe.verify_manifest(listing, target.checksums, cache=backup_hashes,
                                        target=target.name, newest_only=True)
    attach("checksums", obs.summary())
    assert obs.manifest_exists, (
        f"{target.name}: checksum manifest {obs.manifest} does not exist")
    assert obs.newest_listed, (
        f"{target.name}: newest backup {newest.name} is not listed in {obs.manifest} "
        f"({obs.entries_for_pattern} entries for {target.pattern}): the job did not record "
        "its checksum")
    assert obs.newest_matches, (
        f"{target.name}: checksum mismatch: newest backup {newest.name} does not match its "
        f"SHA-256 in {obs.manifest}: the file changed after it was written")


@check(
    id="BKP-005",
    title="Every backup listed in the checksum manifest still matches it",
    severity="normal",
    schedules=["weekly", "monthly"],
    targets=backups_with_checksums,
    budget_s=read_budget_s,
    rationale="Older backups are what a restore falls back to when the newest is bad, and "
              "what an auditor asks for; storage rot does not announce itself. Hashing every "
              "file is too slow for the daily run, so this sweep is weekly.",
    remediation=_REMEDIATION,
    references=["issue 5: checksums manifest (SHA256SUMS)"],
)
def test_every_listed_backup_matches_manifest(target, inventory, backup_hashes):
    listing = listing_of(inventory, target)
    obs = backups_probe.verify_manifest(listing, target.checksums, cache=backup_hashes,
                                        target=target.name, newest_only=False)
    attach("checksums", obs.summary())
    assert obs.manifest_exists, (
        f"{target.name}: checksum manifest {obs.manifest} does not exist")
    assert obs.checked, (
        f"{target.name}: {obs.manifest} lists no file matching {target.pattern} that is still "
        "on disk: nothing was verified")
    assert not obs.mismatched, (
        f"{target.name}: checksum mismatch: {len(obs.mismatched)} of {len(obs.checked)} listed "
        f"backups do not match {obs.manifest}: {', '.join(obs.mismatched[:10])}")
