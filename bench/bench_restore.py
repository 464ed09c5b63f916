"""Restore drill overhead: the drill against a bare ``gunzip | psql`` / ``pg_restore -j``.

Starts a private PostgreSQL through the sandbox (pki + postgres only), generates table data of
the requested size (default 500 MB, measured with ``pg_total_relation_size``) in the
application database, makes one real plain (``-Z 6``) and one custom-format dump as the backup
job would, then alternates, ``--repeats`` times per format:

- bare: ``CREATE DATABASE`` + ``gzip -dc FILE | psql -X -q -v ON_ERROR_STOP=1`` (plain) or
  ``pg_restore -j N --no-owner --no-privileges --exit-on-error`` (custom) + ``DROP DATABASE``,
  exactly what a DBA would type;
- drill: :func:`opsverify.probes.restore.drill` on the same file (scratch database, marker,
  stale cleanup, restore, table list and ``min_rows`` counts, drop).

Runs alternate bare/drill, drill/bare (ABBA) so a load drift does not favour either side;
medians and minimums are both reported (the minimum is the least noisy on a shared machine).

Overhead is reported for the restore phase alone and for the whole drill (issue 5 asks <= 10 %).
Usage: .venv/bin/python -m bench.bench_restore [--data-mb 500] [--repeats 2] [--jobs 2]
Writes reports/bench/restore.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from opsverify.probes import restore as restore_probe
from opsverify.sandbox import backups as sbk
from opsverify.sandbox import manager
from opsverify.sandbox import postgres as spg

ROOT = Path(__file__).resolve().parent.parent
ONLY = {"pki", "postgres"}
MIN_ROWS = {"users": 1, "studies": 1, "bench_a": 1, "bench_b": 1}

_GENERATE = """
SET ROLE app;
CREATE TABLE IF NOT EXISTS {t} (
    id bigint PRIMARY KEY, k1 text NOT NULL, k2 text NOT NULL, note text, at timestamptz
);
INSERT INTO {t}
SELECT g, md5(g::text), md5((g * 7)::text), repeat(chr(65 + g % 26), 60 + g % 40),
       now() - (g || ' seconds')::interval
FROM generate_series({lo}, {hi}) AS g;
"""


def _data_bytes(sb: Any) -> int:
    return int(spg.psql(sb, "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM "
                            "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind = 'r'"))


def generate(sb: Any, target_mb: int) -> dict[str, Any]:
    """Insert rows into two tables (so parallel restore has work to share) until the
    application database's tables hold ``target_mb`` MB."""
    t0 = time.monotonic()
    batch, lo = 400_000, 1
    while _data_bytes(sb) < target_mb * 1024 * 1024:
        for t in ("bench_a", "bench_b"):
            spg.psql(sb, _GENERATE.format(t=t, lo=lo, hi=lo + batch - 1), timeout=900)
        lo += batch
    spg.psql(sb, "VACUUM ANALYZE", timeout=900)
    return {"table_bytes": _data_bytes(sb), "rows_per_table": lo - 1,
            "seconds": round(time.monotonic() - t0, 1)}


def _admin(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


def bare(dsn: str, path: Path, fmt: str, jobs: int) -> dict[str, float]:
    name = f"bench_bare_{os.getpid()}"
    env, conninfo = restore_probe.client_env_and_conninfo(dsn, name)
    with _admin(dsn) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        t0 = time.monotonic()
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
            sql.Identifier(name)))
        t1 = time.monotonic()
        if fmt == "pg_custom":
            cmd = ["pg_restore", "-j", str(jobs), "--no-owner", "--no-privileges",
                   "--exit-on-error", "-d", conninfo, str(path)]
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        else:
            gz = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
            ps = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo],
                                stdin=gz.stdout, env=env, check=True,
                                stdout=subprocess.DEVNULL)
            assert gz.stdout is not None
            gz.stdout.close()
            if gz.wait() != 0 or ps.returncode != 0:
                raise RuntimeError("bare restore failed")
        t2 = time.monotonic()
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))  # = dropdb
        t3 = time.monotonic()
    return {"restore_s": round(t2 - t1, 3), "total_s": round(t3 - t0, 3)}


def drill(dsn: str, path: Path, fmt: str, jobs: int) -> dict[str, float]:
    obs = restore_probe.drill(str(path), fmt, dsn, target="bench", server="main",
                              min_rows=MIN_ROWS, jobs=jobs, rto_s=3600, timeout_s=10)
    if not obs.restored or not obs.dropped:
        raise RuntimeError(f"drill failed: {obs.error}")
    return {"restore_s": float(obs.restore_s or 0), "total_s": float(obs.total_s or 0)}


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-mb", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "restore.json")
    args = ap.parse_args()

    state = Path(tempfile.mkdtemp(prefix="opsverify-bench-restore-", dir="/tmp"))
    state.chmod(0o755)
    skip = [c.name for c in manager.components() if c.name not in ONLY]
    result: dict[str, Any] = {"benchmark": "restore drill overhead", "cores": os.cpu_count(),
                              "python": platform.python_version(),
                              "load_avg_start": os.getloadavg()}
    try:
        sb = manager.up(state, state / "sandbox.yml", skip=skip)
        dsn = spg.dsn(sb, "restore")
        result["generate"] = generate(sb, args.data_mb)
        dumps: dict[str, Path] = {}
        for fmt, suffix in (("pg_plain_gz", ".sql.gz"), ("pg_custom", ".dump")):
            t0 = time.monotonic()
            dumps[fmt] = state / f"database_bench{suffix}"
            sbk.real_dump(sb, dumps[fmt], fmt, timeout=3600)
            result.setdefault("dumps", {})[fmt] = {
                "bytes": dumps[fmt].stat().st_size, "dump_s": round(time.monotonic() - t0, 1)}
        for fmt, path in dumps.items():
            runs: dict[str, list[dict[str, float]]] = {"bare": [], "drill": []}
            for i in range(args.repeats):
                # ABBA order: on a shared machine whose load drifts, neither side always
                # runs second.
                order = ("bare", "drill") if i % 2 == 0 else ("drill", "bare")
                for side in order:
                    fn = bare if side == "bare" else drill
                    runs[side].append(fn(dsn, path, fmt, args.jobs))
            b_r, d_r = _median(runs["bare"], "restore_s"), _median(runs["drill"], "restore_s")
            b_t, d_t = _median(runs["bare"], "total_s"), _median(runs["drill"], "total_s")
            b_min = min(r["restore_s"] for r in runs["bare"])
            d_min = min(r["restore_s"] for r in runs["drill"])
            result.setdefault("formats", {})[fmt] = {
                "runs": runs,
                # the minimum is the least noisy estimate on a shared, loaded machine
                "bare_restore_min_s": b_min, "drill_restore_min_s": d_min,
                "restore_overhead_min_pct": round(100 * (d_min - b_min) / b_min, 1),
                "bare_restore_s": b_r, "drill_restore_s": d_r,
                "restore_overhead_pct": round(100 * (d_r - b_r) / b_r, 1),
                "bare_total_s": b_t, "drill_total_s": d_t,
                "total_overhead_pct": round(100 * (d_t - b_t) / b_t, 1),
            }
            print(fmt, json.dumps(result["formats"][fmt]["runs"]), flush=True)
    finally:
        manager.down(state)
        shutil.rmtree(state, ignore_errors=True)
    result["load_avg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "formats"}, indent=2))
    for fmt, r in result.get("formats", {}).items():
        print(f"{fmt}: median bare {r['bare_restore_s']}s / drill {r['drill_restore_s']}s "
              f"restore ({r['restore_overhead_pct']:+}%), min {r['bare_restore_min_s']}s / "
              f"{r['drill_restore_min_s']}s ({r['restore_overhead_min_pct']:+}%), totals "
              f"{r['bare_total_s']}s / {r['drill_total_s']}s ({r['total_overhead_pct']:+}%)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
