"""Fault matrix rows of the resources area."""

from __future__ import annotations

from tests.matrix import Row

ROWS = [
    Row(fault="data_mount_nearly_full", catches={"RES-001": "95% used"}),
    Row(fault="data_mount_inodes_exhausted", catches={"RES-002": "of inodes used"}),
    Row(fault="huge_log_file", catches={"RES-003": "app-debug.log is 150 MB"}),
    Row(fault="sshd_memory_nearly_full",
        catches={"RES-004": "MiB of 256 MiB, source cgroup"}),
    # the env-file checks cannot read a file that is gone: they fail too (collateral)
    Row(fault="env_file_missing", catches={"RES-005": "app.env is missing (expected a file)"},
        tolerates=("SEC-019", "SEC-020", "SEC-021")),
]
