"""Vulnerability scan reports (Trivy JSON, npm audit JSON) summarised by severity.

opsverify does not scan (no registry or advisory database is reachable from a verification
run); it reads the report the pipeline produced and fails on findings at or above the
inventory's ``fail_severity``. A report that is missing or unreadable is a ProbeError.

>>> summarize({"Results": [{"Target": "app", "Vulnerabilities": [
...     {"VulnerabilityID": "CVE-1", "PkgName": "openssl", "Severity": "CRITICAL"}]}]},
...     "trivy").counts
{'critical': 1}
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsverify.errors import ProbeError

ORDER = ("low", "medium", "high", "critical")
_NPM = {"info": "low", "low": "low", "moderate": "medium", "medium": "medium", "high": "high",
        "critical": "critical"}
MAX_REPORT_BYTES = 64 * 1024 * 1024


@dataclass
class VulnSummary:
    path: str
    format: str
    counts: dict[str, int]
    top: list[str] = field(default_factory=list)  # "CVE-2024-1 openssl (critical)"

    def at_or_above(self, severity: str) -> int:
        floor = ORDER.index(severity)
        return sum(n for s, n in self.counts.items() if s in ORDER and ORDER.index(s) >= floor)


def summarize(data: Any, fmt: str, path: str = "<memory>") -> VulnSummary:
    counts: Counter[str] = Counter()
    items: list[tuple[int, str]] = []
    if fmt == "trivy":
        for result in data.get("Results") or []:
            for v in result.get("Vulnerabilities") or []:
                sev = str(v.get("Severity", "unknown")).lower()
                counts[sev] += 1
                rank = ORDER.index(sev) if sev in ORDER else -1
                items.append((rank, f"{v.get('VulnerabilityID', '?')} {v.get('PkgName', '?')} "
                                    f"({sev})"))
    elif fmt == "npm-audit":
        vulns = data.get("vulnerabilities")
        if isinstance(vulns, dict):  # npm >= 7
            for name, v in vulns.items():
                sev = _NPM.get(str(v.get("severity", "")).lower(), "unknown")
                counts[sev] += 1
                rank = ORDER.index(sev) if sev in ORDER else -1
                items.append((rank, f"{name} ({sev})"))
        for adv in (data.get("advisories") or {}).values():  # npm 6
            sev = _NPM.get(str(adv.get("severity", "")).lower(), "unknown")
            counts[sev] += 1
            rank = ORDER.index(sev) if sev in ORDER else -1
            items.append((rank, f"{adv.get('module_name', '?')} {adv.get('title', '')} ({sev})"))
    else:
        raise ValueError(f"unknown report format {fmt}")
    items.sort(key=lambda x: -x[0])
    return VulnSummary(path, fmt, dict(counts), [t for _, t in items[:10]])


def read_report(path: Path, fmt: str, *, target: str) -> VulnSummary:
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise ProbeError(target, f"{path} is larger than {MAX_REPORT_BYTES >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProbeError(target, f"vulnerability report {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ProbeError(target, f"cannot read vulnerability report {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ProbeError(target, f"{path} is not a {fmt} JSON report")
    return summarize(data, fmt, str(path))
