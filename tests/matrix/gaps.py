"""Fault matrix rows of the checks that close the runbooks' reachable gaps (issue 11).

Faults in opsverify/sandbox/faults/gaps.py; one row per gap, each in its own area.
"""

from __future__ import annotations

from tests.matrix import Row

ROWS = [
    Row(fault="pg_wal_archiving_failing", catches={"BKP-011": "WAL archiving is failing"}),
    Row(fault="db_migration_behind",
        catches={"DB-011": "schema at revision 1c9e5b2a4d07, expected 3f2a9c1d7b10"}),
    Row(fault="data_mount_low_free_bytes",
        catches={"RES-008": "below the declared minimum of 24.0 MiB"}),
    Row(fault="model_checkpoint_truncated",
        catches={"RES-005": "is 1024 bytes, below the declared minimum of 131072 bytes"}),
    Row(fault="backup_day_folder_empty",
        catches={"BKP-002": "20261", "BKP-003": "lacks pg_dump's closing line"}),
    Row(fault="nginx_weak_ciphers", catches={"CRT-014": "NULL (no encryption)"}),
    Row(fault="os_security_update_pending",
        catches={"SEC-031": "1 security update(s) pending: opsverify-demo 0.9 -> 1.0"}),
]
