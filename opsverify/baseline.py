"""Deploy baselines: what the environment looked like before a deploy, compared after it.

``pytest -m predeploy --save-baseline FILE`` keeps every check result (check id, target,
outcome) and the key measurements checks recorded with
:func:`opsverify.evidence.measure`. ``pytest -m postdeploy --baseline FILE`` then reports a
*regression* (a failed result of its own, which blocks any gate) for

- every check result that passed before and fails or is broken now ("newly failing"), and
- every measurement whose name starts with ``latency`` that grew by more than
  ``latency_regression_pct`` percent (and by at least ``latency_regression_min_ms``, so that
  2 ms -> 3 ms on an idle system is not a regression).

Results that already failed before the deploy stay ordinary findings (the gate decides).

>>> base = {"results": [{"key": "PRF-001[api]", "outcome": "passed"}],
...         "measurements": {"PRF-001[api]": {"latency_p95_ms": 100.0}}}
>>> [r.kind for r in compare(base, [{"key": "PRF-001[api]", "outcome": "passed"}],
...                          {"PRF-001[api]": {"latency_p95_ms": 150.0}}, 20, 10)]
['latency']
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsverify.errors import InventoryError

FORMAT = "opsverify-baseline/1"
FAILING = ("failed", "broken")
# A baseline holds one small record per result: 64 MiB is thousands of times a real one, and
# reading a hostile multi-GB file whole would exhaust memory before any error could be shown.
MAX_BASELINE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Regression:
    """One way the deploy made things worse, in one sentence an on-call engineer reads."""

    kind: str  # "newly-failing" | "latency"
    key: str  # CHECK-ID[target]
    message: str


def result_key(check_id: str | None, target: str | None) -> str:
    return f"{check_id}[{target}]" if target else str(check_id)


def build(environment: str, inventory_sha256: str, results: list[dict[str, Any]],
          measurements: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The baseline document (results of checks only; skipped results are kept too)."""
    rows = []
    for r in results:
        if not r.get("check_id"):
            continue
        rows.append({"key": result_key(r["check_id"], r.get("target")),
                     "check_id": r["check_id"], "target": r.get("target"),
                     "severity": r.get("severity"), "outcome": r["outcome"]})
    return {
        "format": FORMAT,
        "environment": environment,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inventory_sha256": inventory_sha256,
        "results": sorted(rows, key=lambda x: x["key"]),
        "measurements": {k: dict(sorted(v.items())) for k, v in sorted(measurements.items())},
    }


def save(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def load(path: Path, environment: str | None = None) -> dict[str, Any]:
    """Read a baseline; one-line :class:`InventoryError` (exit 4) when it cannot be used."""
    file = str(path)
    try:
        if Path(path).stat().st_size > MAX_BASELINE_BYTES:
            raise InventoryError(file, "", f"larger than {MAX_BASELINE_BYTES // 2**20} MiB: "
                                           "not an opsverify baseline")
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InventoryError(file, "", "baseline file not found (save one with "
                                       "-m predeploy --save-baseline FILE)") from None
    except RecursionError:
        # json.loads recurses per nesting level: "[[[[..." would otherwise be a traceback
        raise InventoryError(file, "", "not a readable baseline: nested too deeply") from None
    except (OSError, ValueError) as exc:
        raise InventoryError(file, "", f"not a readable baseline: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InventoryError(file, "format", f"not an opsverify baseline (expected {FORMAT})")
    if not isinstance(data.get("results"), list) or not isinstance(
            data.get("measurements", {}), dict):
        raise InventoryError(file, "results", "malformed baseline")
    if environment and data.get("environment") != environment:
        raise InventoryError(file, "environment",
                             f"baseline was taken on '{data.get('environment')}', this run "
                             f"verifies '{environment}'")
    return data


def compare(baseline: dict[str, Any], results: list[dict[str, Any]],
            measurements: dict[str, dict[str, float]], regression_pct: float,
            min_delta_ms: float) -> list[Regression]:
    """Regressions of this run against the baseline (see the module docstring)."""
    before = {r["key"]: r.get("outcome") for r in baseline.get("results", [])}
    out: list[Regression] = []
    for r in results:
        key = r["key"]
        if r.get("outcome") in FAILING and before.get(key) == "passed":
            lines = (r.get("message") or "").strip().splitlines()
            why = f": {lines[0]}" if lines else ""
            out.append(Regression(
                "newly-failing", key,
                f"{key} passed before the deploy (baseline {baseline.get('created', '?')}) "
                f"and is {r['outcome']} now{why}"))
    base_m: dict[str, dict[str, float]] = baseline.get("measurements", {})
    for key, values in sorted(measurements.items()):
        for name, now in sorted(values.items()):
            if not name.startswith("latency"):
                continue
            was = base_m.get(key, {}).get(name)
            if was is None or was <= 0:
                continue
            growth = (now - was) / was * 100
            if growth > regression_pct and (now - was) >= min_delta_ms:
                out.append(Regression(
                    "latency", f"{key}:{name}",
                    f"{key}: {name} {now:g} after the deploy vs {was:g} before "
                    f"(+{growth:.0f} %, allowed +{regression_pct:g} %)"))
    return out
