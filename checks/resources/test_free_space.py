"""Free space in bytes where the inventory declares a minimum (``hosts[].min_free``).

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.

A percentage threshold and a byte minimum answer different questions: 85 % used on a 2 TB
volume leaves 300 GB, on a 40 GB volume 6 GB - too little for one 10 GB DICOM upload or a
pulled image. Runbooks that say "need > 10GB free" mean bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Host, Inventory
from opsverify.probes import hosts as hosts_probe


@dataclass(frozen=True)
class FreeSpace:
    """One declared minimum of one host; the result id is ``host:/path``."""

    host: Host
    path: str
    min_bytes: int

    @property
    def name(self) -> str:
        return f"{self.host.name}:{self.path}"


def free_space_minimums(inventory: Inventory) -> list[tuple[str, Any]]:
    """hosts min_free (one target per host and declared path, e.g. app1:/var/lib/docker)"""
    return [(f"{h.name}:{p}", FreeSpace(h, p, b)) for h in inventory.hosts
            for p, b in h.min_free.items()]


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} TiB"


@check(
    id="RES-008",
    title="Declared paths keep at least their minimum free space in bytes",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets=free_space_minimums,
    rationale="""Uploads, image pulls, dumps and migrations need a fixed amount of room, not
        a share of the disk: the runbook asks for more than 10 GB free before a deploy. On a
        small volume the percentage check stays green while a single large upload or
        `docker pull` already fails with 'No space left on device'.""",
    remediation="""Find what grew: `du -xh --max-depth=2 PATH | sort -h | tail`; remove old
        backups, rotated logs and unused Docker images (`docker image prune`), or grow the
        volume; do not start the deploy until the minimum is free again.""",
    references=["runbook 001 Horalix View: Pre-deployment (df -h: need >10GB free)"],
)
def test_free_space_above_minimum(target: FreeSpace, inventory: Inventory) -> None:
    host = hosts_probe.get_host(target.host.target, target.host.ssh_config)
    usage = hosts_probe.mount_usage(host, target.path, target=target.name)
    free = usage.kib_available * 1024
    attach("df", {**usage.__dict__, "free_bytes": free, "used_pct": usage.used_pct})
    attach_threshold(min_free_bytes=target.min_bytes)
    assert free >= target.min_bytes, (
        f"{target.name}: {_human(free)} free on {usage.mount_point} "
        f"({usage.used_pct:g}% used of {_human(usage.kib_total * 1024)}), below the declared "
        f"minimum of {_human(target.min_bytes)}")
