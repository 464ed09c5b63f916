"""The alert rules the runbook relies on are loaded in Prometheus and evaluate without error.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

from typing import Any

import requests

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import Inventory, Prometheus
from opsverify.probes import prom_rules


def rule_targets(inv: Inventory) -> list[tuple[str, Any]]:
    """prometheus.expect_rules"""
    if inv.prometheus is None or not inv.prometheus.expect_rules:
        return []
    return [("prometheus", inv.prometheus)]


@check(
    id="HLT-014",
    title="Expected Prometheus alert rules are loaded and evaluate without error",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=rule_targets,
    rationale="""An alert that is not loaded never fires: a rule file dropped from
        `rule_files`, a YAML error after an edit (Prometheus keeps running on the old set or
        none) or a rule deleted by mistake leaves the outage to be found by users. A rule
        whose evaluation fails (health 'err') is just as silent.""",
    remediation="""Check `promtool check rules alerts.yml`, that the file is listed under
        `rule_files` in prometheus.yml and mounted into the container, then reload Prometheus
        (`curl -X POST :9090/-/reload` or restart) and look at Status > Rules; for a rule in
        error, fix its expression (lastError in the evidence).""",
    references=["runbook 000 DICOM viewer: Alert Configuration (HighErrorRate, DatabaseDown "
                "in prometheus/alerts.yml)"],
)
def test_expected_alert_rules_loaded(target: Prometheus, inventory: Inventory,
                                     http_session: requests.Session) -> None:
    rules = prom_rules.loaded_rules(http_session, target.url, target="prometheus",
                                    timeout_s=inventory.threshold("timeout_s"))
    names = {r.name for r in rules}
    missing = [n for n in target.expect_rules if n not in names]
    failing = [r for r in rules if r.health == "err"]
    attach("loaded rules", {"expected": target.expect_rules, "missing": missing,
                            "in_error": failing, "loaded": rules})
    problems = []
    if missing:
        problems.append(f"{len(missing)} expected rule(s) not loaded: {', '.join(missing)} "
                        f"(loaded: {', '.join(sorted(names)) or 'none'})")
    problems += [f"rule {r.name} (group {r.group}) fails to evaluate: {r.last_error}"
                 for r in failing]
    assert not problems, "prometheus: " + "; ".join(problems)
