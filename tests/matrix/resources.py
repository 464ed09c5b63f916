"""Fault matrix rows of the resources area."""

from __future__ import annotations

from tests.matrix import Row

ROWS = [
    Row(fault="data_mount_nearly_full", catches={"RES-001": "95% used"}),
    Row(fault="data_mount_inodes_exhausted", catches={"RES-002": "of inodes used"}),
    Row(fault="huge_log_file", catches={"RES-003": "app-debug.log is 150 MB"}),
]
