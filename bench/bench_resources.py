"""Benchmark of the resource measurements of issue 4: ``docker stats`` concurrency and the CPU
saturation fault's timing.

Usage::

    .venv/bin/python bench/bench_resources.py --state-dir /tmp/ovs-x   # a running sandbox
    .venv/bin/python bench/bench_resources.py                          # starts its own
    .venv/bin/python bench/bench_resources.py --no-cpu                 # stats only

Measures:

1. HLT-012's stats gathering (``opsverify.probes.containers.stats_many``) for every running
   container of the sandbox project: wall time with the thread pool and serially (one worker),
   alternating, ``--runs`` times each; each one-shot stats call waits ~1-2 s for the engine's
   second CPU sample, so the serial time grows with the container count, the pooled one not.
2. ``cpu_saturated`` (unless ``--no-cpu``): inject and revert wall times, the 1-minute load
   before, at the end of inject and after revert, and the number of busy loops used. The load
   average is machine-wide: other work on the machine shows in these figures (the load before
   is recorded for that reason).

Writes ``reports/bench/bench_resources.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from opsverify.probes import containers as cp
from opsverify.sandbox import Sandbox, dockerengine, down, manager, up
from opsverify.sandbox.faults import resources as res_faults

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "bench" / "bench_resources.json"


def bench_stats(sb: Sandbox, runs: int) -> dict[str, Any]:
    timings: dict[str, list[float]] = {"concurrent": [], "serial": []}
    count = 0
    with dockerengine.engine(sb) as client:
        for _ in range(runs):
            for mode, workers in (("concurrent", 16), ("serial", 1)):
                t0 = time.perf_counter()
                rows = cp.stats_many(client, dockerengine.PROJECT, target="docker",
                                     timeout_s=10, workers=workers)
                timings[mode].append(round(time.perf_counter() - t0, 2))
                count = len(rows)
    return {"containers": count, "runs": runs,
            **{f"{m}_s": v for m, v in timings.items()},
            **{f"{m}_median_s": statistics.median(v) for m, v in timings.items()}}


def bench_cpu(sb: Sandbox) -> dict[str, Any]:
    before = res_faults.load_1m()
    t0 = time.perf_counter()
    manager.inject(sb, "cpu_saturated")
    inject_s = time.perf_counter() - t0
    at_inject = res_faults.load_1m()
    t1 = time.perf_counter()
    manager.revert(sb, "cpu_saturated")
    revert_s = time.perf_counter() - t1
    rec = Sandbox.load(sb.state_dir).state.get("resources_faults", {}).get("cpu_saturated", {})
    return {"load_1m_before": before, "load_1m_after_inject": at_inject,
            "load_1m_after_revert": res_faults.load_1m(), "inject_s": round(inject_s, 1),
            "revert_s": round(revert_s, 1), "cpus": res_faults.online_cpus(),
            "load_per_core_max": manager.THRESHOLDS.get("load_per_core_max"), "fault": rec}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-dir", type=Path, help="a running sandbox (default: start one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-cpu", action="store_true", help="skip the cpu_saturated timing")
    args = ap.parse_args()
    own = args.state_dir is None
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="opsverify-bench-res-",
                                                        dir="/tmp"))
    try:
        if own:
            state_dir.chmod(0o755)
            sb = up(state_dir, state_dir / "sandbox.yml")
        else:
            sb = Sandbox.load(state_dir.resolve())
        result: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg": Path("/proc/loadavg").read_text().split()[:3]},
            "docker_stats": bench_stats(sb, args.runs),
        }
        if not args.no_cpu:
            result["cpu_saturated"] = bench_cpu(sb)
    finally:
        if own:
            down(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
