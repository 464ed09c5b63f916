"""Fault matrix rows of the health area: which HLT check catches which sandbox fault."""

from __future__ import annotations

from tests.matrix import Row

ROWS = [
    Row(fault="health_degraded",
        catches={"HLT-001": '$.status is "degraded", expected "healthy"'}),
    Row(fault="ready_failing",
        catches={"HLT-001": "status 503"}),
    Row(fault="metrics_family_missing",
        catches={"HLT-002": "lacks metric family http_request_duration_seconds"}),
    Row(fault="upload_limit_too_low",
        catches={"HLT-011": "413"}),
    Row(fault="postgres_unresponsive",
        catches={"HLT-003": "cannot connect to PostgreSQL"},
        broken=("HLT-003",),
        # /ready and /api/studies need the database: the endpoint check sees it too
        tolerates=("HLT-001",)),
    Row(fault="redis_unresponsive",
        catches={"HLT-004": "did not answer within the timeout"},
        broken=("HLT-004",),
        tolerates=("HLT-001",)),
    Row(fault="container_exited",
        catches={"HLT-005": "is exited", "HLT-007": "opsverify-sandbox_backend_1 is exited"}),
    Row(fault="container_unhealthy",
        catches={"HLT-005": "is running but unhealthy"}),
    Row(fault="container_restart_loop",
        catches={"HLT-006": "restarted"},
        # between two restarts the container is 'restarting' or briefly 'exited'
        tolerates=("HLT-005", "HLT-007")),
    Row(fault="container_oom_killed",
        catches={"HLT-005": "OOM-killed", "HLT-006": "was OOM-killed",
                 "HLT-007": "OOM-killed"}),
    Row(fault="container_memory_near_limit",
        catches={"HLT-012": "of its memory limit"}),
    Row(fault="container_cpu_at_limit",
        catches={"HLT-012": "CPU of 0.05 CPUs), limit 90%"}),
    Row(fault="container_error_logs",
        catches={"HLT-010": "200 ERROR/CRITICAL lines in the last 24 h, limit 50"}),
    Row(fault="prometheus_target_down",
        catches={"HLT-008": "target billing-exporter"}),
    Row(fault="critical_alert_firing",
        catches={"HLT-009": "PostgresReplicationBroken (critical) firing"}),
]
