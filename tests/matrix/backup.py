"""Fault matrix rows of the backup area (faults in opsverify/sandbox/faults/backup.py)."""

from __future__ import annotations

from tests.matrix import Row

ROWS = [
    # The newest file of each series is 2 days old. On the 1st/2nd of a month the calendar,
    # anchored on the (older) newest file, starts a month earlier than the sandbox's history.
    Row(fault="backup_stale", catches={"BKP-001": "hours old"}, tolerates=("BKP-007",)),
    Row(fault="backup_truncated",
        catches={"BKP-003": "truncated", "BKP-006": "unexpected end of file"}),
    Row(fault="custom_dump_truncated",
        catches={"BKP-003": "could not read every data block", "BKP-006": "pg_restore exited"}),
    Row(fault="backup_schema_only", catches={"BKP-006": "users has 0 rows"},
        tolerates=("BKP-002",)),
    Row(fault="backup_size_collapse", catches={"BKP-002": "collapsed"}, tolerates=("BKP-006",)),
    Row(fault="backup_checksum_mismatch",
        catches={"BKP-004": "checksum mismatch", "BKP-005": "checksum mismatch"}),
    Row(fault="backup_retention_gap", catches={"BKP-007": "3 daily"}),
    Row(fault="backup_over_retention", catches={"BKP-008": "older than the policy"}),
    Row(fault="uploads_archive_corrupt",
        catches={"BKP-003": "corrupt", "BKP-009": "lacks uploads/studies"}),
    Row(fault="backup_mirror_missing", catches={"BKP-010": "no copy of the newest backup"}),
]
