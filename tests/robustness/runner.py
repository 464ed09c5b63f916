"""Run the real checks in a child pytest, exactly as an operator does, and collect what the
robustness tests need: per-result outcomes and durations, the terminal output, the wall time
and the child's peak RSS (each run in its own process, so ``RUSAGE_CHILDREN`` of a fresh
grandchild-free wrapper measures only that run)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import machine

ROOT = Path(__file__).resolve().parents[2]

# The wrapper runs pytest as its own child and reports that child's peak RSS: getrusage in the
# test process would mix in every earlier child (the sandbox, other runs).
_WRAPPER = r"""
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[2:], check=False)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(json.dumps({"rc": proc.returncode, "maxrss_kb": peak}))
"""


@dataclass
class Run:
    """One child pytest run: its results (one record per test), output, exit code, figures."""

    rc: int
    stdout: str
    stderr: str
    wall_s: float
    maxrss_mb: float
    results: list[dict[str, Any]] = field(default_factory=list)

    def by_target(self) -> dict[str, list[dict[str, Any]]]:
        """Non-skipped results grouped by their parameter id (the inventory item name)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.results:
            if r["outcome"] != "skipped":
                out.setdefault(r["target"] or "", []).append(r)
        return out


def run_checks(inventory: Path, out_dir: Path, *args: str, timeout_s: float = 240) -> Run:
    """``python -m pytest --inventory X --results-json R -p no:randomly ARGS`` from the project
    root; a hung run raises ``subprocess.TimeoutExpired`` (that is the finding)."""
    results = out_dir / "results.json"
    usage = out_dir / "usage.json"
    cmd = [sys.executable, "-c", _WRAPPER, str(usage), sys.executable, "-m", "pytest",
           "-p", "no:randomly", "-p", "no:cacheprovider", "-q", "--no-header",
           "--inventory", str(inventory), "--results-json", str(results),
           "--alluredir", str(out_dir / "allure"), "--junitxml", str(out_dir / "junit.xml"), *args]
    with machine.check_run():
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        wall = time.monotonic() - start
    rec = json.loads(usage.read_text()) if usage.exists() else {"rc": proc.returncode,
                                                                 "maxrss_kb": 0}
    found = json.loads(results.read_text()) if results.exists() else []
    return Run(rc=rec["rc"], stdout=proc.stdout, stderr=proc.stderr, wall_s=wall,
               maxrss_mb=rec["maxrss_kb"] / 1024, results=found)
