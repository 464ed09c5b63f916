"""TLS checks at scale: 100 TLS endpoints checked with ``-n auto`` (goal <= 10 s on 2 cores).

Starts a private nginx (from a temporary prefix, nothing under /etc/nginx) with 100 HTTPS
server blocks on 100 loopback ports, all serving a chain from a fresh sandbox CA, writes an
inventory of 100 ``tls`` items, and times:

- one direct observation handshake (the floor: what ``openssl s_client`` would cost),
- the probes of all endpoints called directly in one process (observation + protocol probes),
- ``pytest -m tls -n auto`` over the whole inventory (7 checks per endpoint = 700 results),
  which is what an operator runs; the difference is the framework's overhead.

Usage: .venv/bin/python -m bench.bench_tls [--endpoints 100] [--workers auto]
Writes reports/bench/tls.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from opsverify.probes import tls as tls_probe
from opsverify.sandbox import pki
from opsverify.sandbox.base import Sandbox, free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"


def _nginx_conf(prefix: Path, ports: list[int], chain: Path, key: Path) -> str:
    servers = "\n".join(
        f"    server {{ listen 127.0.0.1:{p} ssl; server_name {pki.SERVER_NAME}; "
        f"return 200 'ok'; }}" for p in ports)
    temps = "\n".join(f"    {k}_temp_path {prefix}/temp/{k};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temps}
    ssl_certificate {chain};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
{servers}
}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=100)
    ap.add_argument("--workers", default="auto")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ovs-bench-tls-", dir="/tmp"))
    work.chmod(0o755)
    proc: subprocess.Popen[bytes] | None = None
    try:
        sb = Sandbox(state_dir=work)
        pki.create_ca(sb)
        cert = pki.issue_leaf(sb, "server")
        prefix = work / "nginx"
        (prefix / "temp").mkdir(parents=True)
        ports: list[int] = []
        while len(ports) < args.endpoints:  # the OS may hand out a port twice
            if (port := free_port()) not in ports:
                ports.append(port)
        conf = prefix / "nginx.conf"
        conf.write_text(_nginx_conf(prefix, ports, cert.chain, cert.key))
        proc = subprocess.Popen([NGINX, "-e", str(prefix / "error.log"), "-p", str(prefix),
                                 "-c", str(conf), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in ports:
            wait_port(p, timeout=10)

        inventory = work / "bench.yml"
        inventory.write_text(yaml.safe_dump({
            "environment": "bench-tls",
            "thresholds": {"timeout_s": 5},
            "tls": [{"name": f"ep{i:03d}", "host": "127.0.0.1", "port": p,
                     "server_name": pki.SERVER_NAME, "ca_file": str(cert.ca)}
                    for i, p in enumerate(ports)],
        }, sort_keys=False))

        endpoints = [tls_probe.Endpoint(f"ep{i:03d}", "127.0.0.1", p, pki.SERVER_NAME,
                                        str(cert.ca)) for i, p in enumerate(ports)]
        singles = []
        for _ in range(20):
            t0 = time.perf_counter()
            tls_probe.observe(endpoints[0], timeout_s=5)
            singles.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        for ep in endpoints:
            tls_probe.observe(ep, timeout_s=5)
            tls_probe.protocol_support(ep, timeout_s=5)
        direct_s = time.perf_counter() - t0

        cmd = [sys.executable, "-m", "pytest", "-m", "tls", "-p", "no:randomly", "-q",
               "--no-header", "--inventory", str(inventory), "--no-reports",
               "--results-json", str(work / "results.json"), "-n", str(args.workers)]
        # As an operator runs it: bytecode (and pytest's rewritten test modules) cached, so
        # a warm-up collection first; PYTHONDONTWRITEBYTECODE would recompile every module.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([*cmd[:-2], "--collect-only"], cwd=ROOT, capture_output=True,
                       timeout=300, check=False, env=env)
        load_before = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                             check=False, env=env)
        wall_s = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        results = json.loads((work / "results.json").read_text())
        outcomes: dict[str, int] = {}
        for r in results:
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        if run.returncode != 0:
            print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)

        report = {
            "benchmark": "tls checks at scale",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "openssl": __import__("ssl").OPENSSL_VERSION},
            "endpoints": args.endpoints,
            "workers": args.workers,
            "results": len(results),
            "outcomes": outcomes,
            "single_handshake_ms_median": round(statistics.median(singles), 2),
            "direct_probes_all_endpoints_s": round(direct_s, 2),
            "direct_probes_per_endpoint_ms": round(direct_s * 1000 / args.endpoints, 2),
            "pytest_wall_s": round(wall_s, 2),
            "pytest_overhead_s": round(wall_s - direct_s, 2),
            "pytest_cpu_s": round(cpu_s, 2),
            "load_average_before_run": round(load_before, 2),
            "goal_s": 10,
            "goal_met": wall_s <= 10 and run.returncode == 0,
        }
        out = ROOT / "reports" / "bench" / "tls.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not os.environ.get("OVS_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
