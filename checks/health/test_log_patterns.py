"""Declared log patterns with a limit: the runbooks' ``logs SERVICE | grep -i PATTERN``.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import docker

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory, LogPattern
from opsverify.probes import container_logs


@dataclass(frozen=True)
class PatternTarget:
    pattern: LogPattern
    services: tuple[str, ...]
    project: str | None


def log_patterns(inv: Inventory) -> list[tuple[str, Any]]:
    """docker.log_patterns"""
    d = inv.docker
    if d is None:
        return []
    return [(p.name, PatternTarget(p, tuple(p.services or d.services), d.project))
            for p in d.log_patterns]


@check(
    id="HLT-013",
    title="Declared log patterns stay under their limit in the containers' last 24 hours",
    severity="normal",
    schedules=["daily"],
    targets=log_patterns,
    rationale="""Some trouble has no health endpoint and no metric, only a log line: an upstream
        API rate-limiting the service, a retry loop, a deprecated call. The runbooks grep the
        service logs for it; a declared pattern with a limit turns that grep into a daily
        verdict.""",
    remediation="""Read the most frequent matching lines in the evidence (`docker compose logs
        --since 24h SERVICE | grep -iE PATTERN`) and follow the runbook for that symptom
        (e.g. FDA API rate limiting: reduce the request rate, enable caching of the upstream
        answers, ask for a higher quota); raise `max` if the level is accepted.""",
    references=["runbook 004 regulatory assistant: FDA API Rate Limiting "
                "(logs backend | grep -i \"rate limit\")"],
)
def test_log_pattern_under_limit(target: PatternTarget, inventory: Inventory,
                                 docker_client: docker.DockerClient) -> None:
    p = target.pattern
    names = [n for s in target.services
             for n in container_logs.service_containers(docker_client, target.project, s,
                                                        target=p.name)]
    assert names, (f"{p.name}: no container of service(s) {', '.join(target.services)} in "
                   f"project {target.project or '(any)'}: the pattern cannot be counted")
    since = dt.datetime.now(dt.UTC) - container_logs.WINDOW
    logs = container_logs.read_many(docker_client, names, since=since, target=p.name)
    counts = [container_logs.count_pattern(c.lines, p.pattern, container=c.container,
                                           truncated=c.truncated) for c in logs]
    attach(f"lines matching {p.pattern!r} (24 h)", counts)
    attach_threshold(max=p.max, window_h=24)
    total = sum(c.matches for c in counts)
    top = "; ".join(f"{n}x {msg!r}" for c in counts for msg, n in c.top[:2])
    per = ", ".join(f"{c.container}: {c.matches}" for c in counts)
    assert total <= p.max, (
        f"{p.name}: {total} log lines match /{p.pattern}/ in the last 24 h, limit {p.max} "
        f"({per})" + (f"; most frequent: {top}" if top else ""))
