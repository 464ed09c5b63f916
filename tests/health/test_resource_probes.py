"""Unit tests of the load and container-stats probes: real /proc and ps on this machine, and
the docker CLI's arithmetic on Engine API answers shaped as the engine sends them.

The CPU-of-limit judgement is proven here deterministically as well as in the fault matrix
(``container_cpu_at_limit``): a container's CPU share on a loaded machine depends on every
other runnable task, the arithmetic does not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from pydantic import ValidationError

from opsverify.inventory import Thresholds
from opsverify.probes import containers as cp
from opsverify.probes import hosts


# ------------------------------------------------------------------------------ load per core
def test_parse_loadavg_and_process_rows() -> None:
    assert hosts.parse_loadavg("12.50 6.25 3.00 17/900 4242\n") == (12.5, 6.25, 3.0, 17, 900)
    with pytest.raises(ValueError):
        hosts.parse_loadavg("garbage")
    rows = hosts.parse_top("    PID    PPID COMMAND         %CPU\n   812     1 tmux: server  1.5\n"
                           "  4711  4700 ps               100\n"
                           "     9     2 kworker/0:1-events 0.3\nps: bad option\n",
                           exclude_parent=4700)
    assert [(r.pid, r.command, r.cpu_pct) for r in rows] == [
        (812, "tmux: server", 1.5), (9, "kworker/0:1-events", 0.3)]


def test_cpu_load_local_counts_cpus_and_lists_names_without_arguments() -> None:
    """A busy process started with a secret-looking argument appears by name only."""
    secret = "--password=s3cr3t-" + os.urandom(4).hex()
    busy = subprocess.Popen([sys.executable, "-c",
                             "import time\nt = time.time()\nwhile time.time() - t < 3: pass",
                             secret])
    try:
        time.sleep(0.5)  # %CPU is CPU time over lifetime: the busy loop is near 100 % at once
        load = hosts.cpu_load(hosts.get_host("local://"), target="local")
    finally:
        busy.kill()
        busy.wait()
    assert load.cpus == os.sysconf("SC_NPROCESSORS_ONLN")
    assert load.load_1m >= 0 and load.tasks > 0
    assert load.per_core_1m == round(load.load_1m / load.cpus, 2)
    assert any(p.pid == busy.pid for p in load.top), load.top
    shown = str(load.summary())
    assert secret not in shown and "s3cr3t" not in shown


# ------------------------------------------------------------------- container stats arithmetic
def _stats(cpu_delta_ns: int, sys_delta_ns: int, cpus: int = 2) -> dict:
    return {"cpu_stats": {"cpu_usage": {"total_usage": 10_000_000_000 + cpu_delta_ns},
                          "system_cpu_usage": 900_000_000_000 + sys_delta_ns,
                          "online_cpus": cpus},
            "precpu_stats": {"cpu_usage": {"total_usage": 10_000_000_000},
                             "system_cpu_usage": 900_000_000_000}}


def test_cpu_percent_and_share_of_the_limit_as_docker_stats() -> None:
    # 1 s of wall time on 2 CPUs = 2e9 ns of host CPU time; the container used 0.49 s of it.
    pct = cp.cpu_percent(_stats(490_000_000, 2_000_000_000))
    assert pct == 49.0  # docker stats "CPU %": % of one CPU
    row = cp.ContainerStats("w", "worker", 0, 0, pct, cp.cpu_limit({"NanoCpus": 500_000_000}), 2)
    assert row.cpu_limit == 0.5 and row.cpu_pct_of_limit == 98.0  # at its --cpus 0.5 limit
    quota = cp.cpu_limit({"NanoCpus": 0, "CpuQuota": 50_000, "CpuPeriod": 100_000})
    assert quota == 0.5
    unlimited = cp.ContainerStats("x", "x", 0, 0, 180.0, cp.cpu_limit({}), 2)
    assert unlimited.cpu_limit is None and unlimited.cpu_pct_of_limit is None
    # no previous sample (a container that just started): unknown, not zero
    assert cp.cpu_percent({"cpu_stats": {"system_cpu_usage": 5}, "precpu_stats": {}}) is None
    # percpu list instead of online_cpus (older engines)
    old = _stats(1_000_000_000, 4_000_000_000, cpus=0)
    old["cpu_stats"]["cpu_usage"]["percpu_usage"] = [1, 2, 3, 4]
    assert cp.cpu_percent(old) == 100.0


def test_memory_excludes_inactive_file_cache_but_not_tmpfs() -> None:
    v1 = {"usage": 64 << 20, "stats": {"total_inactive_file": 20 << 20, "shmem": 40 << 20}}
    v2 = {"usage": 64 << 20, "stats": {"inactive_file": 4 << 20, "shmem": 58 << 20}}
    assert cp.memory_used(v1) == 44 << 20
    assert cp.memory_used(v2) == 60 << 20
    row = cp.ContainerStats("w", "worker", cp.memory_used(v2), 64 << 20, 0.0, None, 2)
    assert row.memory_pct == 93.8
    assert cp.ContainerStats("n", "n", 5 << 20, 0, 0.0, None, 2).memory_pct is None


def test_stats_table_shows_missing_limits() -> None:
    rows = [cp.ContainerStats("p_worker_1", "worker", 60 << 20, 64 << 20, 49.0, 0.5, 2),
            cp.ContainerStats("p_cron_1", "cron", 3 << 20, 0, None, None, 2)]
    lines = cp.stats_table(rows).splitlines()
    assert lines[0].split()[:2] == ["NAME", "CPU"]
    assert "98.0%" in lines[1] and "60.0MiB / 64.0MiB" in lines[1] and "93.8%" in lines[1]
    assert "none" in lines[2] and "no limit" in lines[2]


# ------------------------------------------------------------------------------ disk tiers
def test_disk_warning_tier_defaults_and_validation() -> None:
    assert (Thresholds().disk_warn_pct, Thresholds().disk_used_max_pct) == (80, 90)
    # a fail tier set below the default warning tier takes the warning tier with it...
    assert Thresholds(disk_used_max_pct=75).disk_warn_pct == 75
    # ...but a warning tier written above the fail tier is an inventory error
    with pytest.raises(ValidationError, match="disk_warn_pct"):
        Thresholds(disk_used_max_pct=75, disk_warn_pct=80)
