"""Benchmark of the latency probe: accuracy against wrk, and the cost of an HTTP check.

Usage::

    .venv/bin/python bench/bench_latency.py                      # starts its own sandbox
    .venv/bin/python bench/bench_latency.py --state-dir /tmp/ovs-x  # a running sandbox

1. Accuracy: on the same sandbox endpoint, at the same concurrency, the probe's p95 against
   ``wrk``'s p95 (a Lua ``done`` hook prints wrk's own percentiles). Two endpoints: the
   backend's ``/api/studies`` as is (a database query), and ``/api/version`` with the backend's
   ``slow_ms`` knob at 50 ms (a realistic server time). Goal: within 10 %.
2. Overhead: once the session is warm, one ``opsverify.probes.http.fetch`` plus its evidence
   (what an HTTP check does) against one ``requests.Session.get`` and one cold ``requests.get``
   of the same URL. Goal: at most 2x the direct call.

Writes ``reports/bench/bench_latency.json`` and prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opsverify.evidence import dumps  # noqa: E402
from opsverify.probes import http as http_probe  # noqa: E402
from opsverify.probes import latency  # noqa: E402
from opsverify.sandbox import backend, manager  # noqa: E402
from opsverify.sandbox.base import Sandbox  # noqa: E402

OUT = ROOT / "reports" / "bench" / "bench_latency.json"
CONCURRENCY = 5
WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("OPSV %d %d %d %d %d\\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.timeout))
end
"""


def wrk(url: str, seconds: int, script: Path) -> dict[str, float]:
    out = subprocess.run(["wrk", f"-t{CONCURRENCY}", f"-c{CONCURRENCY}", f"-d{seconds}s",
                          "-s", str(script), url], capture_output=True, text=True,
                         timeout=seconds + 30, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("OPSV "))
    p50, p95, p99, n, errors = (int(v) for v in line.split()[1:])
    return {"p50_ms": p50 / 1000, "p95_ms": p95 / 1000, "p99_ms": p99 / 1000,
            "requests": n, "errors": errors}


def probe(url: str, n: int) -> dict[str, float]:
    with latency.new_session(url, CONCURRENCY) as s:
        obs = latency.burst(s, url, target="bench", requests_max=n, concurrency=CONCURRENCY,
                            time_cap_s=120, timeout_s=10)
    return {"p50_ms": obs.p(50), "p95_ms": obs.p(95), "p99_ms": obs.p(99),
            "requests": obs.sent, "errors": obs.errors}


def accuracy(sb: Sandbox, script: Path, n: int, seconds: int,
             rounds: int) -> list[dict[str, Any]]:
    """Alternate wrk and the probe ``rounds`` times per endpoint and compare median p95s.

    Alternating matters on a shared machine: load that changes between two long runs would
    otherwise be measured as a difference between the tools.
    """
    rows = []
    cases = [("/api/studies", {}), ("/api/version", {"slow_ms": 50,
                                                     "slow_paths": ["/api/version"]})]
    for path, knobs in cases:
        if knobs:
            backend.set_control(sb, **knobs)
        runs: list[tuple[dict[str, float], dict[str, float]]] = []
        try:
            url = backend.url(sb, path)
            probe(url, 20)  # warm the server's caches and connection paths
            for _ in range(rounds):
                runs.append((wrk(url, seconds, script), probe(url, n)))
        finally:
            if knobs:
                backend.set_control(sb, **{k: None for k in knobs})
        w95 = statistics.median(w["p95_ms"] for w, _ in runs)
        p95 = statistics.median(p["p95_ms"] for _, p in runs)
        diff = abs(p95 - w95) / w95 * 100
        rows.append({"endpoint": path + (" (slow_ms 50)" if knobs else ""),
                     "probe_p95_ms": round(p95, 2), "wrk_p95_ms": round(w95, 2),
                     "probe_requests": sum(p["requests"] for _, p in runs),
                     "wrk_requests": sum(w["requests"] for w, _ in runs),
                     "rounds": [{"wrk": w, "probe": p} for w, p in runs],
                     "p95_diff_pct": round(diff, 1), "within_10pct": diff <= 10})
    return rows


def overhead(sb: Sandbox, n: int) -> dict[str, Any]:
    url = backend.url(sb, "/health")

    with http_probe.new_session() as ops, requests.Session() as direct:
        def check() -> None:
            obs = http_probe.fetch(ops, url, target="bench", timeout_s=10)
            dumps(obs.summary())
            assert obs.status == 200

        calls = {"ops": check, "warm": lambda: direct.get(url, timeout=10).content,
                 "cold": lambda: requests.get(url, timeout=10).content}
        for _ in range(20):  # warm both sessions
            check()
            direct.get(url, timeout=10)
        samples: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(n):  # interleaved, so a busy machine slows all three alike
            for name, fn in calls.items():
                t0 = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t0) * 1000)
        ops_ms, warm_ms, cold_ms = (statistics.median(samples[k]) for k in calls)
    return {"url_path": "/health", "calls": n, "opsverify_check_median_ms": round(ops_ms, 3),
            "requests_session_get_median_ms": round(warm_ms, 3),
            "requests_get_median_ms": round(cold_ms, 3),
            "ratio_vs_session_get": round(ops_ms / warm_ms, 2),
            "ratio_vs_requests_get": round(ops_ms / cold_ms, 2)}


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; "
             f"load average {m['load_before']} before the run; {result['when']}.", "",
             "| endpoint (median of rounds) | probe p95 (ms) | wrk p95 (ms) | diff "
             "| probe n / wrk n |",
             "| --- | --- | --- | --- | --- |"]
    for r in result["accuracy"]:
        lines.append(f"| {r['endpoint']} | {r['probe_p95_ms']:.2f} | {r['wrk_p95_ms']:.2f}"
                     f" | {r['p95_diff_pct']} % | {r['probe_requests']} / "
                     f"{r['wrk_requests']} |")
    o = result["overhead"]
    lines += ["", "| one warm HTTP check (/health) | median ms | ratio |", "| --- | --- | --- |",
              f"| opsverify fetch + evidence | {o['opsverify_check_median_ms']} | 1 |",
              f"| requests.Session.get (warm) | {o['requests_session_get_median_ms']} | "
              f"opsverify = {o['ratio_vs_session_get']}x |",
              f"| requests.get (new connection) | {o['requests_get_median_ms']} | "
              f"opsverify = {o['ratio_vs_requests_get']}x |"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state-dir", type=Path, help="a running sandbox (default: start one)")
    ap.add_argument("--requests", type=int, default=200, help="probe requests per round")
    ap.add_argument("--seconds", type=int, default=3, help="wrk duration per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating wrk/probe rounds")
    args = ap.parse_args()
    own = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="ovs-bench-latency-", dir="/tmp")) if own \
        else args.state_dir
    if own:
        state_dir.chmod(0o755)
        sb = manager.up(state_dir, state_dir / "sandbox.yml", skip=["docker", "host", "backups"])
    else:
        sb = Sandbox.load(state_dir.resolve())
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_LUA)
        script = Path(fh.name)
        result = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version(),
                        "load_before": [round(x, 1) for x in os.getloadavg()]},
            "concurrency": CONCURRENCY,
            "accuracy": accuracy(sb, script, args.requests, args.seconds, args.rounds),
            "overhead": overhead(sb, 300),
        }
        script.unlink()
    finally:
        if own:
            manager.down(state_dir)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwritten: {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
