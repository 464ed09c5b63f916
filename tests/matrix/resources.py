"""Fault matrix rows of the resources area."""

from __future__ import annotations

from tests.matrix import Row

ROWS = [
    # 95 % is past both tiers: the fail tier (RES-001) and the warning tier (RES-007)
    # (a nearly full 64 MiB mount also has less than its declared min_free of 24 MiB: RES-008)
    Row(fault="data_mount_nearly_full",
        catches={"RES-001": "95% used", "RES-007": "95% used"}, tolerates=("RES-008",)),
    # 85 %: only the warning tier; RES-001 (fail at 90 %) must stay green
    Row(fault="disk_above_warning", catches={"RES-007": "warning tier 80%"},
        tolerates=("RES-008",)),
    Row(fault="data_mount_inodes_exhausted", catches={"RES-002": "of inodes used"}),
    Row(fault="huge_log_file", catches={"RES-003": "app-debug.log is 150 MB"}),
    Row(fault="sshd_memory_nearly_full",
        catches={"RES-004": "MiB of 256 MiB, source cgroup"}),
    # the env-file checks cannot read a file that is gone: they fail too (collateral)
    Row(fault="env_file_missing", catches={"RES-005": "app.env is missing (expected a file)"},
        tolerates=("SEC-019", "SEC-020", "SEC-021")),
    Row(fault="cpu_saturated", catches={"RES-006": "limit 10 per core"}, machine_wide=True),
]
