"""Required files and directories: the env files, mounts and log dirs the inventory declares.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import Host
from opsverify.probes import hosts as hosts_probe


def _expected(host: Host) -> dict[str, str]:
    """Declared path -> kind it must be (a path declared twice keeps its first role)."""
    want: dict[str, str] = {}
    for paths, kind in ((host.env_files, "file"), (host.mounts, "directory"),
                        (host.log_dirs, "directory")):
        for p in paths:
            want.setdefault(p, kind)
    return want


@check(
    id="RES-005",
    title="Required files and directories are present",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets="hosts",
    rationale="""A missing env file, storage volume or log directory makes the services start
        with defaults, write uploads to the root disk or fail to log - usually noticed only
        after a deploy or a reboot. The runbooks list the env files and volumes that must
        exist on every host; checking before a deploy catches a lost mount or a file moved
        away by hand.""",
    remediation="""Restore the missing path: re-mount the volume (`mount -a`, check
        /etc/fstab and `dmesg` for why it is missing), restore the env file from the secrets
        store or backup (owner and mode 0600 as before), recreate the log directory with the
        service user as owner. Do not start the services on defaults.""",
    references=["runbook: Required files and directories (env files, storage volumes)"],
)
def test_required_paths_present(target: Host) -> None:
    want = _expected(target)
    assert want, (f"{target.name}: no env_files, mounts or log_dirs declared for this host: "
                  "nothing to verify")
    host = hosts_probe.get_host(target.target, target.ssh_config)
    found = hosts_probe.path_kinds(host, list(want), target=target.name)
    attach("paths", [{"path": f.path, "expected": want[f.path], "found": f.kind} for f in found])
    wrong = [f for f in found if f.kind != want[f.path]]
    assert not wrong, f"{target.name}: " + "; ".join(
        f"{f.path} is missing (expected a {want[f.path]})" if f.kind == "missing"
        else f"{f.path} is a {f.kind}, expected a {want[f.path]}" for f in wrong)
