"""Prometheus' loaded alerting and recording rules (``/api/v1/rules``), with their health.

A rule file that failed to load, was never listed in ``rule_files`` or lost a rule in an
edit leaves no trace in the targets page: the alert simply never fires. Reading what
Prometheus actually loaded, and whether each rule's last evaluation failed (``health: err``,
e.g. many-to-many matching after a label change), is the only way to know the alerts the
runbook relies on exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from opsverify.errors import ProbeError
from opsverify.probes.monitoring import _get_json


@dataclass
class LoadedRule:
    name: str
    kind: str  # alerting, recording
    group: str
    file: str
    health: str  # ok, err, unknown (not evaluated yet)
    last_error: str
    state: str  # inactive, pending, firing (alerting rules)


def loaded_rules(session: requests.Session, base_url: str, *, target: str, timeout_s: float,
                 ca_file: str | None = None) -> list[LoadedRule]:
    """Every rule of every group Prometheus has loaded."""
    data = _get_json(session, base_url.rstrip("/") + "/api/v1/rules", target=target,
                     timeout_s=timeout_s, ca_file=ca_file)
    try:
        groups = data["data"]["groups"]
        return [LoadedRule(name=str(r.get("name", "")), kind=str(r.get("type", "")),
                           group=str(g.get("name", "")), file=str(g.get("file", "")),
                           health=str(r.get("health", "unknown")),
                           last_error=str(r.get("lastError", ""))[:300],
                           state=str(r.get("state", "")))
                for g in groups for r in g.get("rules", [])]
    except (KeyError, TypeError, AttributeError):
        raise ProbeError(target, "Prometheus answered an unexpected rules document") from None
