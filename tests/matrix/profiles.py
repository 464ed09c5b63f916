"""Fault matrix rows of the sandbox profiles: faults typical of each reference runbook.

Each profile's rows run against that profile's sandbox (``up --profile NAME``), not the
session's generic sandbox, in tests/reference/test_profiles.py; so they live in
``PROFILE_ROWS`` (not ``ROWS``, which the generic matrix runs). Only the daily checks of the
areas a row names run, as an operator's ``pytest -m "daily and <area>"`` would.
"""

from __future__ import annotations

from tests.matrix import Row

PROFILE_ROWS: dict[str, list[Row]] = {
    # runbook 000: daily script curl -f .../api/health; database_*.sql backups; openssl
    # x509 -checkend 2592000 (certificate valid for 30 more days)
    "dicom-viewer": [
        Row(fault="api_health_failing", catches={"HLT-001": "status 500"}),
        Row(fault="backup_stale", catches={"BKP-001": "database_"},
            # the retention calendar is anchored on the (now older) newest file
            tolerates=("BKP-007",)),
        Row(fault="cert_expiring_20d",
            catches={"CRT-002": "expires in 20.0 days", "CRT-011": "cert_warn_days"}),
    ],
    # runbook 001: Upload Limits (10 GB), Verify Startup (/ready), DICOM files backup
    "horalix-view": [
        Row(fault="upload_limit_too_low", catches={"HLT-011": "413"}),
        Row(fault="ready_failing", catches={"HLT-001": "status 503"}),
        Row(fault="uploads_archive_corrupt",
            catches={"BKP-003": "corrupt", "BKP-009": "lacks storage/dicom"}),
    ],
    # runbook 002: the nightly backup at 02:00 failed (no file, or pg_dump died half-way);
    # Database Connections < 50
    "allodoc": [
        Row(fault="backup_stale", catches={"BKP-001": "backup_production_"}),
        Row(fault="backup_truncated", catches={"BKP-003": "truncated"}),
        Row(fault="pg_connections_near_max",
            catches={"DB-001": "exceeds db_connections_max_pct 50%"}),
    ],
    # runbook 003: ML Service Issues (health-check.sh ML Service 5002/health), Cache
    # Management (INFO memory, maxmemory), Security Checklist (openssl s_client)
    "spherosegv4": [
        # refused: the endpoint cannot be observed at all (broken, not a wrong answer)
        Row(fault="ml_service_down", catches={"HLT-001": "refused"}, broken=("HLT-001",),
            # Prometheus scrapes the ML service too: its target may already show down
            tolerates=("HLT-008",)),
        # docker compose ps: the ml container exited (its process is not the sandbox's ML
        # service, so /health still answers: only the container checks see it)
        Row(fault="ml_container_exited",
            catches={"HLT-005": "is exited", "HLT-007": "spheroseg_ml_1 is exited"}),
        Row(fault="redis_near_maxmemory_noeviction",
            catches={"CCH-001": "redis_memory_max_pct", "CCH-002": "noeviction"}),
        Row(fault="cert_expiring_5d",
            catches={"CRT-001": "expires in 5.0 days", "CRT-002": "expires in"}),
    ],
    # runbook 004: /health/redis behind the backend, Certificate Renewal (nginx/ssl/cert.pem
    # Not After), forbidden files on the public site
    "regulatory-assistant": [
        Row(fault="redis_down",
            catches={"HLT-001": "backend-redis", "HLT-004": "refused"}, broken=("HLT-004",)),
        Row(fault="cert_file_expiring",
            catches={"CRT-010": "expires in 5.0 days", "CRT-011": "expires in"}),
        Row(fault="dotenv_served", catches={"SEC-005": "is served: status 200"}),
        # FDA API Rate Limiting: docker compose logs backend | grep -i "rate limit"
        Row(fault="container_rate_limit_logs",
            catches={"HLT-013": "30 log lines match /(?i)rate limit/"}),
    ],
}
