"""Memory use per host, against the limit that actually constrains it (cgroup or machine).

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Host, Inventory
from opsverify.probes import hosts as hosts_probe


@check(
    id="RES-004",
    title="Hosts keep memory use below the threshold",
    severity="critical",
    schedules=["daily"],
    targets="hosts",
    rationale="""Near its memory limit a host (or a container, or a service with a cgroup
        memory limit) starts swapping or the kernel OOM-kills a process - often the database
        or the largest worker. The runbooks act at 85 % used. Inside a cgroup with a limit
        the machine's free RAM is irrelevant: the limit is what the OOM killer enforces, so
        that is what is measured.""",
    remediation="""Find the biggest consumers (`ps aux --sort=-rss | head`, `docker stats
        --no-stream`), look for leaks (RSS growing since the last restart) and large tmpfs
        files (`df -h /dev/shm /run /tmp`); restart the leaking service in a quiet moment,
        or raise the memory limit / add RAM if the load really grew.""",
    references=["runbook: Memory usage (fail 85 %)"],
)
def test_memory_use_below_threshold(target: Host, inventory: Inventory) -> None:
    limit = inventory.threshold("memory_used_max_pct", target)
    host = hosts_probe.get_host(target.target, target.ssh_config)
    mem = hosts_probe.memory_usage(host, target=target.name)
    attach("memory", {**mem.__dict__, "used_pct": mem.used_pct})
    attach_threshold(memory_used_max_pct=limit)
    assert mem.used_pct < limit, (
        f"{target.name}: memory {mem.used_pct:g}% used ({mem.used_bytes // 2**20} MiB of "
        f"{mem.limit_bytes // 2**20} MiB, source {mem.source}), limit {limit:g}%")
