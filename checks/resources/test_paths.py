"""Required files and directories: the env files, mounts, log dirs and required files (e.g. an
ML model checkpoint, with an optional minimum size) the inventory declares.

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
                        (host.log_dirs, "directory"),
                        ([f.path for f in host.required_files], "file")):
        for p in paths:
            want.setdefault(p, kind)
    return want


@check(
    id="RES-005",
    title="Required files and directories are present",
    severity="critical",
    schedules=["daily", "predeploy"],
    targets="hosts",
    rationale="""A missing env file, storage volume, log directory or model file makes the
        services start with defaults, write uploads to the root disk, fail to log or serve no
        predictions (runbook 003: the checkpoint file) - usually noticed only after a deploy
        or a reboot; a model copy cut short exists but is as useless as a missing one. The
        runbooks list the env files and volumes that must exist on every host; checking
        before a deploy catches a lost mount or a file moved away by hand.""",
    remediation="""Restore the missing path: re-mount the volume (`mount -a`, check
        /etc/fstab and `dmesg` for why it is missing), restore the env file from the secrets
        store or backup (owner and mode 0600 as before), recreate the log directory with the
        service user as owner, copy the model file again from its release storage and
        compare its checksum. Do not start the services on defaults.""",
    references=["runbook: Required files and directories (env files, storage volumes)",
                "runbook 003 SpherosegV4: ML model checkpoint (ls -la checkpoint_epoch_9.pth.tar)"],
)
def test_required_paths_present(target: Host) -> None:
    want = _expected(target)
    assert want, (f"{target.name}: no env_files, mounts, log_dirs or required_files declared "
                  "for this host: nothing to verify")
    host = hosts_probe.get_host(target.target, target.ssh_config)
    found = hosts_probe.path_kinds(host, list(want), target=target.name)
    minimum = {f.path: f.min_size for f in target.required_files if f.min_size}
    sizes = hosts_probe.file_sizes(host, list(minimum), target=target.name)
    attach("paths", [{"path": f.path, "expected": want[f.path], "found": f.kind,
                      **({"size_bytes": sizes.get(f.path), "min_size_bytes": minimum[f.path]}
                         if f.path in minimum else {})} for f in found])
    wrong = [f for f in found if f.kind != want[f.path]]
    problems = [f"{f.path} is missing (expected a {want[f.path]})" if f.kind == "missing"
                else f"{f.path} is a {f.kind}, expected a {want[f.path]}" for f in wrong]
    problems += [f"{p} is {sizes[p]} bytes, below the declared minimum of {m} bytes "
                 "(truncated or incomplete copy?)" for p, m in minimum.items()
                 if sizes.get(p) is not None and sizes[p] < m]  # type: ignore[operator]
    assert not problems, f"{target.name}: " + "; ".join(problems)
