"""HTTP security headers on every HTTPS origin (runbooks: nginx hardening)."""

from __future__ import annotations

from fixtures.security import https_origins
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import exposure


@check(
    id="SEC-001",
    title="HTTPS origins send the security headers (HSTS, nosniff, frame protection, "
          "Referrer-Policy and the required set)",
    severity="normal",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=https_origins,
    rationale="Without HSTS a first plain-HTTP request can be downgraded; without nosniff "
              "browsers execute uploaded files as scripts; without frame protection the app can "
              "be framed for clickjacking; without Referrer-Policy study URLs leak to third "
              "parties.",
    remediation="Add the missing headers in the nginx server block with `add_header ... always;` "
                "(Strict-Transport-Security max-age=31536000; includeSubDomains, "
                "X-Content-Type-Options nosniff, X-Frame-Options DENY or CSP frame-ancestors "
                "'none', Referrer-Policy strict-origin-when-cross-origin), reload nginx.",
    references=["runbook 000 DICOM viewer: Security Hardening",
                "https://owasp.org/www-project-secure-headers/"],
)
def test_security_headers_present(target, inventory, origin_get):
    obs = origin_get(target, "/")
    required = list(inventory.security.required_headers)
    min_age = int(inventory.threshold("hsts_min_age_s"))
    report = exposure.check_headers(obs.headers, required, min_age)
    attach("response headers", exposure.headers_evidence(obs))
    attach("header verdict", report)
    attach_threshold(required_headers=", ".join(required), hsts_min_age_s=min_age)
    problems = [f"missing {m}" for m in report.missing] + report.weak
    assert not problems, (
        f"{target.origin}/ (status {obs.status}): {'; '.join(problems)}")


@check(
    id="SEC-002",
    title="HTTPS origins send a Content-Security-Policy",
    severity="minor",
    schedules=["daily", "predeploy"],
    targets=https_origins,
    rationale="A Content-Security-Policy limits what an injected script can load or send: the "
              "second line of defence behind output encoding.",
    remediation="Add `add_header Content-Security-Policy \"default-src 'self'; frame-ancestors "
                "'none'; object-src 'none'\" always;` to the nginx server block (start in "
                "Report-Only mode if the frontend loads third-party assets), reload nginx.",
    references=["https://developer.mozilla.org/docs/Web/HTTP/CSP"],
)
def test_content_security_policy_present(target, origin_get):
    obs = origin_get(target, "/")
    report = exposure.check_headers(obs.headers, [])
    attach("response headers", exposure.headers_evidence(obs))
    assert report.csp, f"{target.origin}/ sends no Content-Security-Policy header"
