"""CPU run queue per host: the 1-minute load average per online CPU.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold, measure
from opsverify.inventory import Host, Inventory
from opsverify.probes import hosts as hosts_probe


@check(
    id="RES-006",
    title="Hosts' CPU run queue stays below the load-per-core limit",
    severity="normal",
    schedules=["daily"],
    targets="hosts",
    rationale="""A load above the number of cores means tasks queue for a CPU: every request,
        query and health check waits its turn and latency grows long before anything fails
        (runbooks: CPU usage < 80 %, "High CPU" alert). The load is judged per core, so one
        limit fits a 2-core VM and a 32-core server. The 1-minute average is judged because
        a daily check must see a saturation that is happening now - the 5- and 15-minute
        figures lag by minutes and hide a fresh one - and it is the first number `uptime`
        shows the engineer who follows up; the 5- and 15-minute values in the evidence tell
        a burst from a lasting overload.""",
    remediation="""Run `uptime` and `top` (or `ps -eo pid,comm,pcpu --sort=-pcpu | head`,
        evidence lists the busiest processes) and `docker stats --no-stream`: stop or
        throttle a runaway process (a stuck job, a busy loop after a deploy), move batch work
        out of peak hours, or add CPUs / replicas if the load really grew. A high load with
        idle CPUs means tasks blocked on I/O (state D in `ps`): look at the disks instead.""",
    references=["runbook: Resource usage (CPU usage < 80 %)", "runbook: High CPU alert"],
)
def test_load_per_core_below_limit(target: Host, inventory: Inventory) -> None:
    limit = inventory.threshold("load_per_core_max", target)
    host = hosts_probe.get_host(target.target, target.ssh_config)
    load = hosts_probe.cpu_load(host, target=target.name)
    attach("load", load.summary())
    attach_threshold(load_per_core_max=limit)
    measure("load_per_core_1m", load.per_core_1m)
    top = ", ".join(f"{p.command} (pid {p.pid}, {p.cpu_pct:g}% CPU)" for p in load.top[:3])
    assert load.per_core_1m < limit, (
        f"{target.name}: 1-minute load {load.load_1m:g} on {load.cpus} CPUs is "
        f"{load.per_core_1m:g} per core (5 min {load.per_core(load.load_5m):g}, 15 min "
        f"{load.per_core(load.load_15m):g}), limit {limit:g} per core"
        + (f"; busiest processes: {top}" if top else ""))
