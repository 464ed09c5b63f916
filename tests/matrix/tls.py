"""Fault matrix rows of the tls area (faults in opsverify/sandbox/faults/tls.py).

Every certificate fault also changes nginx's certificate file (cert_files), so the file checks
catch those too; a certificate that fails verification also breaks the HSTS check (its HTTPS
request cannot complete), which is tolerated as collateral.
"""

from __future__ import annotations

from tests.matrix import Row

HTTPS = ("CRT-009",)  # the HSTS request fails verification on an untrusted certificate

ROWS = [
    Row(fault="cert_expiring_5d",
        catches={"CRT-001": "expires in 5.0 days", "CRT-002": "expires in",
                 "CRT-010": "expires in", "CRT-011": "expires in"}),
    Row(fault="cert_expiring_20d",
        catches={"CRT-002": "expires in 20.0 days", "CRT-011": "cert_warn_days"}),
    Row(fault="cert_expired",
        catches={"CRT-001": "expired 1.0 days ago", "CRT-002": "expired",
                 "CRT-010": "expired"},
        tolerates=("CRT-011", *HTTPS)),
    Row(fault="cert_not_yet_valid",
        catches={"CRT-001": "not yet valid", "CRT-010": "not yet valid"},
        tolerates=HTTPS),
    Row(fault="cert_wrong_host",
        catches={"CRT-004": "does not cover the server name 'app.sandbox.test'"},
        tolerates=HTTPS),
    Row(fault="cert_self_signed",
        catches={"CRT-003": "self-signed"},
        tolerates=HTTPS),
    Row(fault="cert_missing_intermediate",
        catches={"CRT-003": "intermediate certificate is missing"},
        tolerates=HTTPS),
    Row(fault="cert_rsa_1024",
        catches={"CRT-005": "RSA-1024"},
        tolerates=HTTPS),
    Row(fault="cert_sha1",
        catches={"CRT-006": "(SHA-1)"},
        tolerates=HTTPS),
    Row(fault="tls10_enabled",
        catches={"CRT-007": "accepts legacy protocol(s) TLSv1, TLSv1.1"}),
    Row(fault="http_no_redirect",
        catches={"CRT-008": "instead of redirecting to HTTPS"}),
    Row(fault="hsts_missing",
        catches={"CRT-009": "without a Strict-Transport-Security header"}),
    Row(fault="cert_file_expiring",
        catches={"CRT-010": "expires in 5.0 days", "CRT-011": "expires in"}),
    Row(fault="cert_key_mismatch",
        catches={"CRT-012": "key mismatch"}),
]
