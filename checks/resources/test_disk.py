"""Disk space and inodes of the mounts named in the inventory, per host.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Host, Inventory
from opsverify.probes import hosts as hosts_probe


@dataclass(frozen=True)
class Mount:
    """One mount of one host; the result id is ``host:/path``."""

    host: Host
    path: str

    @property
    def name(self) -> str:
        return f"{self.host.name}:{self.path}"


def mounts(inventory: Inventory) -> list[tuple[str, Any]]:
    """hosts mounts (one target per host and mount, e.g. app1:/var)"""
    return [(f"{h.name}:{m}", Mount(h, m)) for h in inventory.hosts for m in h.mounts]


def _usage(target: Mount) -> hosts_probe.MountUsage:
    host = hosts_probe.get_host(target.host.target, target.host.ssh_config)
    usage = hosts_probe.mount_usage(host, target.path, target=target.name)
    attach("df", {**usage.__dict__, "used_pct": usage.used_pct,
                  "inodes_used_pct": usage.inodes_used_pct})
    return usage


@check(
    id="RES-001",
    title="Mounts have free disk space below the usage threshold",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets=mounts,
    rationale="""A full disk stops PostgreSQL writes, Docker pulls, uploads and logging at
        once; the runbooks act at 90 % used so there is time to clean up or grow the volume
        before anything fails.""",
    remediation="""Find what grew: `du -xh --max-depth=2 MOUNT | sort -h | tail`; remove old
        backups, rotated logs and unused Docker images (`docker image prune`), or grow the
        volume. Do not delete database files by hand.""",
    references=["runbook: Disk space (warn 80 %, fail 90 %)"],
)
def test_disk_usage_below_threshold(target: Mount, inventory: Inventory) -> None:
    limit = inventory.threshold("disk_used_max_pct", target.host)
    usage = _usage(target)
    attach_threshold(disk_used_max_pct=limit)
    assert usage.used_pct < limit, (
        f"{target.name}: {usage.used_pct:g}% used ({usage.kib_available // 1024} MiB free of "
        f"{usage.kib_total // 1024} MiB on {usage.mount_point}), limit {limit:g}%")


@check(
    id="RES-002",
    title="Mounts have free inodes below the usage threshold",
    severity="critical",
    schedules=["daily"],
    targets=mounts,
    rationale="""A filesystem out of inodes refuses new files while df still shows free
        space: sessions, uploads and temp files fail with 'No space left on device' and
        the usual disk check stays green. Millions of small files (thumbnails, session
        files, mail queues) are the usual cause.""",
    remediation="""Find the directory with the most files: `find MOUNT -xdev -type f | cut
        -d/ -f2-4 | sort | uniq -c | sort -n | tail`; delete stale small files (sessions,
        caches) or rebuild the filesystem with more inodes.""",
    references=["runbook: Disk space (inodes)"],
)
def test_inode_usage_below_threshold(target: Mount, inventory: Inventory) -> None:
    limit = inventory.threshold("inode_used_max_pct", target.host)
    usage = _usage(target)
    attach_threshold(inode_used_max_pct=limit)
    assert usage.inodes_total > 0, (
        f"{target.name}: {usage.mount_point} reports no inode count (filesystem without "
        "inode limits): nothing to verify")
    assert usage.inodes_used_pct < limit, (
        f"{target.name}: {usage.inodes_used_pct:g}% of inodes used ({usage.inodes_free} free "
        f"of {usage.inodes_total} on {usage.mount_point}), limit {limit:g}%")


@check(
    id="RES-007",
    title="Mounts stay below the disk-use warning tier",
    severity="minor",
    schedules=["daily"],
    targets=mounts,
    rationale="""The runbooks' two tiers: warn at 80 % used, act at 90 % (RES-001). The
        warning is its own result at minor severity so that a gate at critical ignores it
        while the daily report shows it: at 80 % there are usually days left to plan a
        clean-up or a bigger volume in working hours instead of a night-time emergency. A
        mount past the fail tier is past this one too, and is reported by both.""",
    remediation="""Plan the clean-up before the fail tier: `du -xh --max-depth=2 MOUNT | sort
        -h | tail` shows what grew; expire old backups and rotated logs, prune unused Docker
        images, or schedule growing the volume. Compare with the previous reports to see how
        fast it fills.""",
    references=["runbook: Disk space (warn 80 %, fail 90 %)"],
)
def test_disk_usage_below_warning_tier(target: Mount, inventory: Inventory) -> None:
    warn = inventory.threshold("disk_warn_pct", target.host)
    usage = _usage(target)
    attach_threshold(disk_warn_pct=warn)
    assert usage.used_pct < warn, (
        f"{target.name}: {usage.used_pct:g}% used ({usage.kib_available // 1024} MiB free of "
        f"{usage.kib_total // 1024} MiB on {usage.mount_point}), warning tier {warn:g}% "
        f"(fail tier {inventory.threshold('disk_used_max_pct', target.host):g}%)")
