"""Ports that must not be reachable: the database and cache stay off the host's interfaces.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

from typing import Any

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import ClosedPort, Inventory
from opsverify.probes import ports

#: A closed port answers at once (refused) or never (filtered): waiting longer proves nothing.
CONNECT_TIMEOUT_S = 2.0


def closed_ports(inv: Inventory) -> list[tuple[str, Any]]:
    """security.closed_ports"""
    if inv.security is None:
        return []
    return [(p.label, p) for p in inv.security.closed_ports]


@check(
    id="SEC-028",
    title="Ports declared closed (database, cache, admin) refuse connections",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=closed_ports,
    rationale="""A database or Redis published on the host (a `ports:` line left in the compose
        file, a `-p 5432:5432` from debugging) is one password guess away from the data, and
        Redis without TLS hands out everything. The runbook verifies after every deploy that
        `localhost:5432` and `localhost:6379` are refused.""",
    remediation="""Remove the `ports:` mapping of that service from docker-compose.yml (keep it
        on the internal network only, `expose:` at most) or stop the process listening there;
        if it must listen, bind it to the internal interface and firewall it, then re-run the
        check.""",
    references=["runbook 003 SpherosegV4: Service Health Verification (database and Redis not "
                "exposed)"],
)
def test_closed_port_refuses(target: ClosedPort, inventory: Inventory) -> None:
    timeout = min(CONNECT_TIMEOUT_S, inventory.threshold("timeout_s"))
    obs = ports.probe_port(target.host, target.port, target=target.label, timeout_s=timeout)
    attach("tcp connect", obs)
    assert not obs.open, (
        f"{target.label}: {target.host}:{target.port} must be closed but the connection was "
        f"accepted in {obs.elapsed_ms:g} ms; listening: {obs.what_listens()}")
