"""Sandbox lifecycle timing: `up` on a warm machine (goal <= 30 s) and `down` (goal <= 5 s).

Usage: .venv/bin/python -m bench.bench_sandbox [--runs N]
Writes reports/bench/sandbox.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from opsverify.sandbox import manager

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    ups: list[float] = []
    downs: list[float] = []
    components: dict[str, list[float]] = {}
    for _ in range(args.runs):
        state = Path(tempfile.mkdtemp(prefix="ovs-bench-", dir="/tmp"))
        state.chmod(0o755)
        try:
            t0 = time.monotonic()
            sb = manager.up(state, state / "sandbox.yml")
            ups.append(time.monotonic() - t0)
            for name, secs in sb.state.get("timings", {}).items():
                components.setdefault(name, []).append(secs)
        finally:
            t0 = time.monotonic()
            manager.down(state)
            downs.append(time.monotonic() - t0)
            shutil.rmtree(state, ignore_errors=True)
    result = {
        "benchmark": "sandbox lifecycle",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "runs": args.runs,
        "up_s": {"median": statistics.median(ups), "max": max(ups), "all": ups},
        "down_s": {"median": statistics.median(downs), "max": max(downs), "all": downs},
        "component_s_median": {k: statistics.median(v) for k, v in components.items()},
        "goals": {"up_s": 30, "down_s": 5},
    }
    out = ROOT / "reports" / "bench" / "sandbox.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"up median {result['up_s']['median']:.1f}s (max {max(ups):.1f}s), "
          f"down median {result['down_s']['median']:.1f}s (max {max(downs):.1f}s) -> {out}")


if __name__ == "__main__":
    main()
