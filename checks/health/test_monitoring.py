"""The monitoring stack's own verdict: every scrape target up, no serious alert firing.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

import requests

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Alertmanager, Inventory, Prometheus
from opsverify.probes import monitoring


@check(
    id="HLT-008",
    title="Every Prometheus scrape target is up",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="prometheus",
    rationale="""A target that Prometheus cannot scrape is a service nobody is watching:
        its alerts cannot fire (rate() over missing data is empty), so the outage is found by
        users. 'Down' is also often the first sign of the service itself being down.""",
    remediation="""Open Prometheus' Targets page (or /api/v1/targets): lastError says why
        the scrape failed. Restart the exporter or service if it is down, fix the address or
        the firewall if it is unreachable, or remove a decommissioned target from the scrape
        configuration.""",
    references=["runbook: Monitoring (Prometheus targets)"],
)
def test_prometheus_targets_up(target: Prometheus, inventory: Inventory,
                               http_session: requests.Session) -> None:
    targets = monitoring.prometheus_targets(http_session, target.url, target="prometheus",
                                            timeout_s=inventory.threshold("timeout_s"))
    down = [t for t in targets if t.health != "up"]
    attach("targets", {"total": len(targets), "not_up": down,
                       "up": [f"{t.job}/{t.instance}" for t in targets if t.health == "up"]})
    assert targets, f"prometheus: {target.url} has no active scrape target: nothing is monitored"
    assert not down, "prometheus: " + "; ".join(
        f"target {t.job}/{t.instance} is {t.health}"
        + (f" (lastError: {t.last_error})" if t.last_error else "") for t in down
    ) + f" - {len(down)} of {len(targets)} targets not up"


@check(
    id="HLT-009",
    title="No alert at or above the failing severity is firing in Alertmanager",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets="alertmanager",
    rationale="""An active, unsilenced critical alert means the monitoring already knows
        something is wrong: a deploy or a 'healthy' daily report on top of it would
        contradict the team's own alerting.""",
    remediation="""Handle the alerts listed in the evidence following their runbook links;
        if an alert is known and accepted, silence it in Alertmanager with an owner and an
        expiry instead of ignoring it.""",
    references=["runbook: Monitoring (Alertmanager)"],
)
def test_no_serious_alert_firing(target: Alertmanager, inventory: Inventory,
                                 http_session: requests.Session) -> None:
    alerts = monitoring.active_alerts(http_session, target.url, target="alertmanager",
                                      timeout_s=inventory.threshold("timeout_s"))
    floor = monitoring.severity_rank(target.fail_severity)
    serious = [a for a in alerts
               if a.state == "active" and monitoring.severity_rank(a.severity) >= floor]
    attach("alerts", {"active": alerts, "fail_severity": target.fail_severity})
    attach_threshold(fail_severity=target.fail_severity)
    assert not serious, "alertmanager: " + "; ".join(
        f"{a.name} ({a.severity or 'no severity'}) firing since {a.starts_at[:19]}"
        + (f": {a.summary}" if a.summary else "") for a in serious
    ) + f" - {len(serious)} alert(s) at or above '{target.fail_severity}'"
