"""The retention policy (e.g. 30 daily, 12 weekly, 12 monthly) holds on disk."""

from __future__ import annotations

from fixtures.backups import backups_with_retention, listing_of
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes import backups as backups_probe


def _policy(target) -> str:
    r = target.retention
    return f"{r.daily} daily, {r.weekly} weekly, {r.monthly} monthly"


def _retention(inventory, target):
    listing = listing_of(inventory, target)
    assert listing.newest is not None, (
        f"{target.name}: no file matching {target.pattern} in {listing.directory}: the "
        f"retention policy ({_policy(target)}) has nothing to keep")
    r = target.retention
    obs = backups_probe.evaluate_retention(listing, daily=r.daily, weekly=r.weekly,
                                           monthly=r.monthly)
    attach("retention calendar", obs.summary())
    return obs


@check(
    id="BKP-007",
    title="Every daily, weekly and monthly slot of the retention policy holds a backup",
    severity="normal",
    schedules=["daily", "weekly"],
    targets=backups_with_retention,
    rationale="The policy (runbook 002: 30 daily, 12 weekly, 12 monthly) is what lets a team "
              "go back to before a silent corruption; a gap is a day, week or month that "
              "cannot be restored, usually from failed runs nobody noticed or a rotation "
              "script deleting too much (runbook 000's find -mtime +30 -delete).",
    remediation="Find the failed runs in the backup job's log for the missing dates; fix the "
                "rotation script if it removed them; copy them back from the mirror if it has "
                "them. A gap in the past cannot be filled: record it for the auditors.",
    references=["runbook 002 Backup Locations: Retention 30 daily, 12 weekly, 12 monthly",
                "runbook 000 Backup Cleanup"],
)
def test_retention_has_no_gap(target, inventory):
    obs = _retention(inventory, target)
    parts = [f"{len(slots)} {tier} ({', '.join(slots[:8])}{', ...' if len(slots) > 8 else ''})"
             for tier, slots in obs.gaps.items() if slots]
    assert not parts, (
        f"{target.name}: retention gap: backups missing for " + "; ".join(parts)
        + f" (policy {_policy(target)}, counted back from the newest backup of {obs.anchor})")


@check(
    id="BKP-008",
    title="No backup is kept beyond the retention policy",
    severity="minor",
    schedules=["weekly", "monthly"],
    targets=backups_with_retention,
    rationale="Backups kept beyond the policy hold personal data longer than declared (GDPR "
              "storage limitation, medical records policies) and fill the backup volume; it "
              "usually means the rotation job stopped deleting.",
    remediation="Check the rotation (cleanup) job and its pattern; remove the listed files "
                "after confirming no legal hold applies to them.",
    references=["runbook 002 Backup Locations: Retention", "runbook 000 Backup Cleanup"],
)
def test_nothing_kept_beyond_policy(target, inventory):
    obs = _retention(inventory, target)
    extra = obs.beyond_policy
    names = ", ".join(f"{e['name']} ({e['day']})" for e in extra[:10])
    assert not extra, (
        f"{target.name}: {len(extra)} backup(s) older than the policy's oldest slot "
        f"({obs.keep_from}, policy {_policy(target)}) are still kept: {names}")
