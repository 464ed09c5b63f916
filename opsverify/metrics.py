"""Check results as Prometheus metrics, so Grafana shows verification beside the system.

Written in the text exposition format for node_exporter's textfile collector
(``--collector.textfile.directory``): the file is written to a temporary name in the same
directory and renamed, so the collector never reads half a file. Optionally pushed to a
Pushgateway (``PUT /metrics/job/opsverify/environment/<env>``: replaces the previous run's
group, so a check removed from the catalog does not linger).

- ``opsverify_check_status{environment,check_id,target,severity}``: 1 passed, 0 failed or
  broken or waived (skipped results are not exported: nothing was verified);
- ``opsverify_check_outcome{...,outcome}``: 1 for the result's outcome (passed, failed,
  broken, waived), for dashboards that tell broken from failed;
- ``opsverify_check_duration_seconds{...}``;
- ``opsverify_measurement{environment,check_id,target,name}``: measurements checks recorded;
- ``opsverify_run_timestamp_seconds{environment}`` and ``opsverify_run_results{environment,
  outcome}``.

>>> text = render("prod", [{"check_id": "HLT-001", "target": "api", "severity": "critical",
...                         "outcome": "passed", "duration": 0.5}], {}, now=1.0)
>>> 'opsverify_check_status{environment="prod",check_id="HLT-001",target="api",' \\
...     'severity="critical"} 1' in text
True
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

EXPORTED = ("passed", "failed", "broken", "waived")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str | None) -> str:
    return "{" + ",".join(f'{k}="{_esc(v or "")}"' for k, v in labels.items()) + "}"


def render(environment: str, results: list[dict[str, Any]],
           measurements: dict[str, dict[str, float]], now: float | None = None) -> str:
    """The exposition text. ``results``: check_id, target, severity, outcome, duration;
    ``measurements``: ``{"CHECK-ID[target]": {name: value}}``."""
    now = time.time() if now is None else now
    checks = [r for r in results if r.get("check_id") and r.get("outcome") in EXPORTED]
    out = [
        "# HELP opsverify_check_status 1 if the check passed on the target, 0 if it failed, "
        "was broken (not observable) or is waived.",
        "# TYPE opsverify_check_status gauge",
    ]
    for r in checks:
        lbl = _labels(environment=environment, check_id=r["check_id"], target=r.get("target"),
                      severity=r.get("severity"))
        out.append(f"opsverify_check_status{lbl} {1 if r['outcome'] == 'passed' else 0}")
    out += ["# HELP opsverify_check_outcome The outcome of each check result (1 for the "
            "outcome label that applies).", "# TYPE opsverify_check_outcome gauge"]
    for r in checks:
        lbl = _labels(environment=environment, check_id=r["check_id"], target=r.get("target"),
                      severity=r.get("severity"), outcome=r["outcome"])
        out.append(f"opsverify_check_outcome{lbl} 1")
    out += ["# HELP opsverify_check_duration_seconds How long the check took on the target.",
            "# TYPE opsverify_check_duration_seconds gauge"]
    for r in checks:
        lbl = _labels(environment=environment, check_id=r["check_id"], target=r.get("target"),
                      severity=r.get("severity"))
        out.append(f"opsverify_check_duration_seconds{lbl} {float(r.get('duration') or 0):.6f}")
    if measurements:
        out += ["# HELP opsverify_measurement Key measurements recorded by checks.",
                "# TYPE opsverify_measurement gauge"]
        for key, values in sorted(measurements.items()):
            check_id, _, rest = key.partition("[")
            target = rest[:-1] if rest.endswith("]") else ""
            for name, value in sorted(values.items()):
                lbl = _labels(environment=environment, check_id=check_id, target=target,
                              name=name)
                out.append(f"opsverify_measurement{lbl} {float(value):g}")
    counts: dict[str, int] = dict.fromkeys(EXPORTED, 0)
    for r in checks:
        counts[r["outcome"]] += 1
    out += ["# HELP opsverify_run_results Number of check results per outcome in the last run.",
            "# TYPE opsverify_run_results gauge"]
    for outcome, n in counts.items():
        out.append(f"opsverify_run_results{_labels(environment=environment, outcome=outcome)}"
                   f" {n}")
    out += ["# HELP opsverify_run_timestamp_seconds When the last verification run finished.",
            "# TYPE opsverify_run_timestamp_seconds gauge",
            f"opsverify_run_timestamp_seconds{_labels(environment=environment)} {now:.3f}"]
    return "\n".join(out) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """Atomic write: temp file in the same directory, fsync, rename (mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def push(url: str, environment: str, text: str, timeout_s: float = 10.0,
         job: str = "opsverify") -> int:
    """PUT the metrics to a Pushgateway; returns the HTTP status, raises OSError on failure."""
    base = url.rstrip("/")
    group = (f"/metrics/job/{urllib.parse.quote(job, safe='')}"
             f"/environment/{urllib.parse.quote(environment, safe='')}")
    req = urllib.request.Request(base + group, data=text.encode(), method="PUT",
                                 headers={"Content-Type": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return int(resp.status)
