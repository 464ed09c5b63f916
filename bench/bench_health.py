"""Benchmark of the health area: suite wall time (serial vs xdist) and a 1,000-endpoint scale run.

Usage (against a running sandbox, or let the script start one)::

    .venv/bin/python bench/bench_health.py --inventory /tmp/ovs-x/sandbox.yml
    .venv/bin/python bench/bench_health.py --up        # starts and stops its own sandbox

Measures, each as an operator runs it (a child ``pytest``, Allure results written):

1. ``pytest -m daily -k health``: wall time serial and with ``-n auto``;
2. a scale inventory of N (default 1,000) HTTP items pointing at the sandbox nginx
   (``/health?i=N``), HLT-001 only: wall time and peak RSS (sum over the pytest process tree,
   sampled every 50 ms), serial and ``-n auto``.

Writes ``reports/bench/bench_health.json``. Goal from issue 4: 1,000 endpoints in <= 30 s on
2 cores, peak RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "bench" / "bench_health.json"


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # the run just ended
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_pytest(args: list[str], results_dir: Path) -> dict[str, Any]:
    """Run a child pytest; return wall time, peak tree RSS, outcome counts."""
    out = results_dir / f"results-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "--no-header",
           "--alluredir", str(results_dir / "allure"), "--clean-alluredir",
           "--results-json", str(out), *args]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    ps = psutil.Process(proc.pid)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(ps))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    stdout, _ = proc.communicate(timeout=900)
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    counts: dict[str, int] = {}
    if out.exists():
        for r in json.loads(out.read_text()):
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return {"cmd": " ".join(["pytest", *args]), "exit": proc.returncode,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "load_avg_1m": round(os.getloadavg()[0], 2), "peak_rss_mb": round(peak / 2**20, 1),
            "outcomes": counts, "tail": stdout.decode(errors="replace").splitlines()[-3:]}


def scale_inventory(sandbox_inventory: Path, n: int, dest: Path) -> Path:
    """N copies of the sandbox's backend-health item, each with its own query string."""
    inv = yaml.safe_load(sandbox_inventory.read_text())
    base = next(i for i in inv["http"] if i["name"] == "backend-health")
    # deep copies: shared sub-dicts would be written as YAML aliases, which the inventory
    # loader limits (alias bombs)
    items = [{**copy.deepcopy(base), "name": f"ep-{i:04d}", "url": f"{base['url']}?i={i}"}
             for i in range(n)]
    doc = {"environment": "scale", "description": f"{n} HTTP endpoints on the sandbox nginx",
           "thresholds": inv.get("thresholds", {}), "http": items}
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inventory", type=Path, help="inventory of a running sandbox")
    ap.add_argument("--up", action="store_true", help="start (and stop) a private sandbox")
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (best kept)")
    args = ap.parse_args()
    state_dir = None
    if args.up:
        from opsverify.sandbox import down, up
        state_dir = Path(tempfile.mkdtemp(prefix="ovs-bench-health-", dir="/tmp"))
        state_dir.chmod(0o755)
        args.inventory = state_dir / "sandbox.yml"
        up(state_dir, args.inventory)
    if not args.inventory:
        ap.error("give --inventory of a running sandbox, or --up")
    work = Path(tempfile.mkdtemp(prefix="bench-health-"))
    try:
        report: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                     "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
            "suite": {}, "scale": {"endpoints": args.endpoints},
        }
        inv = str(args.inventory)

        def best(cmd: list[str]) -> dict[str, Any]:
            runs = [run_pytest(cmd, work) for _ in range(args.repeat)]
            return min(runs, key=lambda r: r["wall_s"])

        for label, extra in (("serial", []), ("xdist_auto", ["-n", "auto"])):
            # the brief says `-m daily -k health`; -k also matches parameter ids such as a
            # state dir named /tmp/ovs-health/..., so the area marker selects the area exactly
            report["suite"][label] = best(["-m", "daily and health", "--inventory", inv,
                                           *extra])
            print(f"suite {label}: {report['suite'][label]['wall_s']} s "
                  f"(cpu {report['suite'][label]['cpu_s']} s) "
                  f"{report['suite'][label]['outcomes']}", flush=True)
        scale = scale_inventory(args.inventory, args.endpoints, work / "scale.yml")
        for label, extra in (("serial", []), ("xdist_auto", ["-n", "auto"])):
            r = best(["checks/health/test_endpoints.py", "-k", "test_endpoint_answers_as_expected",
                      "--inventory", str(scale), *extra])
            report["scale"][label] = r
            print(f"scale {args.endpoints} {label}: {r['wall_s']} s (cpu {r['cpu_s']} s), peak RSS "
                  f"{r['peak_rss_mb']} MB {r['outcomes']}", flush=True)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written {OUT}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if state_dir is not None:
            from opsverify.sandbox import down
            down(state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
