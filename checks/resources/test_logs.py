"""Log growth on hosts: no single log file beyond the size limit in the declared log dirs.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Host, Inventory
from opsverify.probes import hosts as hosts_probe


@check(
    id="RES-003",
    title="Log directories hold no log file larger than the size limit",
    severity="normal",
    schedules=["daily"],
    targets="hosts",
    rationale="""A log that is never rotated grows until the disk is full, and a 1 GB log is
        unreadable during an incident anyway. The runbooks flag any log file above 100 MB
        (apparent size) as a broken or missing logrotate rule.""",
    remediation="""Add or fix the logrotate rule for the file (size/daily, rotate N,
        compress, copytruncate if the process keeps it open), then rotate once by hand; lower
        the log level if DEBUG logging was left on.""",
    references=["runbook: Log rotation (files > 100 MB)"],
)
def test_no_oversized_log_files(target: Host, inventory: Inventory) -> None:
    limit_mb = inventory.threshold("log_file_max_mb", target)
    assert target.log_dirs, f"{target.name}: no log_dirs declared for this host: nothing to verify"
    host = hosts_probe.get_host(target.target, target.ssh_config)
    scans = [hosts_probe.large_files(host, d, int(limit_mb * 2**20), target=target.name)
             for d in target.log_dirs]
    attach("log dirs", scans)
    attach_threshold(log_file_max_mb=limit_mb)
    missing = [s.directory for s in scans if not s.exists]
    assert not missing, f"{target.name}: log dir(s) {', '.join(missing)} do not exist"
    big = [f for s in scans for f in s.large_files]
    assert not big, f"{target.name}: " + "; ".join(
        f"{f.path} is {f.size_mb:g} MB" for f in big) + f" (limit {limit_mb:g} MB per file)"
