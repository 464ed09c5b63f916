"""Posture rows: the runbooks' "must not" verifications (closed ports, failed logins and
writes in logs, declared log patterns, alert rules, availability, nginx upload directives)."""

from tests.matrix import Row

ROWS = [
    Row(fault="closed_port_listening",
        catches={"SEC-028": "must be closed but the connection was accepted"}),
    Row(fault="container_failed_logins",
        catches={"SEC-029": "30 failed logins in the logs of opsverify-sandbox_backend_1"}),
    Row(fault="writes_outside_api_in_log",
        catches={"SEC-030": "5 write requests outside /api/"}),
    Row(fault="container_rate_limit_logs",
        catches={"HLT-013": "30 log lines match /(?i)rate limit/"}),
    Row(fault="alert_rule_missing",
        catches={"HLT-014": "expected rule(s) not loaded: HighErrorRate"}),
    Row(fault="availability_dip",
        catches={"PRF-005": "billing-api/127.0.0.1"}),
    Row(fault="nginx_upload_buffering_on",
        catches={"HLT-015": "'proxy_request_buffering off' is missing"}),
]
