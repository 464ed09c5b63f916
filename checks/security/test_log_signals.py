"""Security signals in logs: failed-login bursts and injection attempts (last 24 h)."""

from __future__ import annotations

from fixtures.security import access_logs, log_dirs
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import log_signals


@check(
    id="SEC-022",
    title="Failed logins in the last 24 h stay under the threshold",
    severity="normal",
    schedules=["daily"],
    targets=log_dirs,
    rationale="A burst of failed logins is password guessing or credential stuffing in "
              "progress; the runbooks ask for this grep daily.",
    remediation="Look at the top source addresses in the evidence: block them (nginx `deny`, "
                "firewall), check whether any of the targeted accounts then logged in "
                "successfully, enforce rate limiting on the login route.",
    references=["runbook 000 DICOM viewer: Check for failed login attempts",
                "runbook 002: Check authentication failures",
                "runbook 003: Check failed login attempts"],
)
def test_failed_logins_under_threshold(target, inventory, testinfra_host):
    host = testinfra_host(target.host)
    lines, files, truncated = log_signals.grep_host_logs(
        host, target.host.name, target.path, log_signals.FAILED_LOGIN_RE, target=target.name)
    obs = log_signals.count_failed_logins(lines)
    obs.files, obs.truncated = files, truncated
    limit = int(inventory.threshold("failed_logins_max"))
    attach("failed logins (last 24 h)", obs)
    attach_threshold(failed_logins_max=limit)
    top = ", ".join(f"{ip} ({n})" for ip, n in obs.top_sources) or "none"
    assert obs.count <= limit, (
        f"{target.name}: {obs.count} failed logins in the last 24 h (threshold {limit}); "
        f"top sources: {top}")


@check(
    id="SEC-023",
    title="Access logs show no injection-looking requests in the last 24 h",
    severity="normal",
    schedules=["daily"],
    targets=access_logs,
    rationale="Requests with UNION SELECT, <script or ../ are someone probing for SQL "
              "injection, XSS or path traversal; even failed attempts say an attack is on.",
    remediation="Identify the source addresses in the evidence and block them; check the "
                "responses those requests got (status 200 on an injection attempt needs an "
                "incident review), and consider a WAF rule set on nginx.",
    references=["runbook 002: Review nginx access logs for suspicious patterns",
                "runbook 000 DICOM viewer: Monitor suspicious activity"],
)
def test_no_injection_requests(target, inventory):
    lines = log_signals.read_local_tail(target, target=target)
    obs = log_signals.count_injections(lines)
    obs.files = [target]
    limit = int(inventory.threshold("suspicious_requests_max"))
    attach("injection-looking requests (last 24 h)", obs)
    attach_threshold(suspicious_requests_max=limit)
    kinds = ", ".join(f"{k}: {n}" for k, n in obs.kinds.items())
    top = ", ".join(f"{ip} ({n})" for ip, n in obs.top_sources) or "none"
    assert obs.count <= limit, (
        f"{target}: {obs.count} injection-looking requests in the last 24 h (threshold {limit}; "
        f"{kinds}); top sources: {top}")
