"""Pending OS security updates (runbook 000: apt list --upgradable).

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Host, Inventory
from opsverify.probes import hosts as hosts_probe
from opsverify.probes import os_updates


def hosts_with_security_updates(inventory: Inventory) -> list[tuple[str, Host]]:
    """hosts with security_updates"""
    return [(h.name, h) for h in inventory.hosts if h.security_updates is not None]


@check(
    id="SEC-031",
    title="No OS security update is pending",
    severity="critical",
    schedules=["daily", "weekly"],
    targets=hosts_with_security_updates,
    rationale="""A security update that was published but not installed leaves a known,
        public vulnerability (OpenSSL, the kernel, sudo) open on the host; the runbook lists
        the upgradable packages as part of its security review. Package lists older than a
        week cannot say what is pending, so their age is part of the check.""",
    remediation="""Install the pending security updates in the next maintenance window
        (`apt-get update && apt-get upgrade`, or unattended-upgrades for the security
        pocket), restart the services that use the updated libraries (`needrestart`), and
        make sure `apt-get update` runs at least daily.""",
    references=["runbook 000 DICOM viewer: Security (apt list --upgradable)"],
)
def test_no_security_update_pending(target: Host, inventory: Inventory) -> None:
    spec = target.security_updates
    assert spec is not None
    host = hosts_probe.get_host(target.target, target.ssh_config)
    obs = os_updates.apt_updates(host, spec.root, target=target.name)
    attach("updates", obs.summary())
    attach_threshold(lists_max_age_days=spec.lists_max_age_days)
    assert obs.lists_age_days is not None, (
        f"{target.name}: no apt package lists under {spec.root.rstrip('/')}/var/lib/apt/lists: "
        "apt-get update never ran, so pending updates cannot be known")
    assert obs.lists_age_days <= spec.lists_max_age_days, (
        f"{target.name}: apt package lists are {obs.lists_age_days:.1f} days old (limit "
        f"{spec.lists_max_age_days:g}): apt-get update does not run, pending updates are unknown")
    sec = obs.security
    assert not sec, (
        f"{target.name}: {len(sec)} security update(s) pending: "
        + ", ".join(f"{p.package} {p.installed or '?'} -> {p.candidate}" for p in sec[:10])
        + (f" (and {len(sec) - 10} more)" if len(sec) > 10 else "")
        + f" (from {sec[0].releases[0]})")
