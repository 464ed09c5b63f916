"""Vulnerability scan results (Trivy, npm audit) the pipeline produced."""

from __future__ import annotations

from fixtures.security import vulnerability_reports
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.probes import vulns


@check(
    id="SEC-024",
    title="Vulnerability reports show no findings at or above the configured severity",
    severity="critical",
    schedules=["weekly", "predeploy"],
    targets=vulnerability_reports,
    rationale="Known-vulnerable packages in the deployed images are the cheapest way in; the "
              "runbooks run trivy and npm audit but nobody reads the output.",
    remediation="Upgrade the listed packages (rebuild the image on a patched base, `npm audit "
                "fix`), rescan, redeploy; accept a finding only through a waiver with an "
                "expiry date.",
    references=["runbook 000 DICOM viewer: Check for vulnerabilities (trivy)",
                "runbook 002: npm audit"],
)
def test_no_serious_vulnerabilities(target, inventory):
    summary = vulns.read_report(inventory.resolve_path(target.path), target.format,
                                target=target.path)
    attach("vulnerability summary", summary)
    attach_threshold(fail_severity=target.fail_severity)
    n = summary.at_or_above(target.fail_severity)
    assert n == 0, (
        f"{target.path}: {n} finding(s) at or above {target.fail_severity} "
        f"({', '.join(summary.top[:5])})")
