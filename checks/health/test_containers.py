"""Containers of the compose project: running, healthy, stable, and quiet in their logs.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from opsverify.catalog import check
from opsverify.evidence import attach, attach_text, attach_threshold
from opsverify.inventory import Docker, Inventory
from opsverify.probes import containers as cp

LOG_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Service:
    """One compose service the inventory expects (long-running, or one-shot like migrate)."""

    name: str
    one_shot: bool
    project: str | None


def services(inventory: Inventory) -> list[tuple[str, Any]]:
    """docker services and one_shot services (one target per service)"""
    d = inventory.docker
    if d is None:
        return []
    return ([(s, Service(s, False, d.project)) for s in d.services]
            + [(s, Service(s, True, d.project)) for s in d.one_shot])


def _of(snapshot: list[cp.ContainerObservation], svc: Service) -> list[cp.ContainerObservation]:
    return [c for c in snapshot if c.service == svc.name]


def _snapshot(cli: docker.DockerClient, project: str | None) -> list[cp.ContainerObservation]:
    snap = cp.snapshot(cli, project, target="docker")
    attach_text("docker compose ps", cp.ps_table(snap))
    return snap


@check(
    id="HLT-005",
    title="Every expected container service is running and healthy",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets=services,
    rationale="""A stopped or unhealthy container is an outage of that service even when the
        proxy still answers; one-shot services (migrations) that did not exit 0 leave the
        schema behind the code. Docker's own healthcheck is the application's verdict on
        itself and must be 'healthy', not merely 'running'.""",
    remediation="""Run `docker compose ps` and `docker compose logs SERVICE`; fix the cause
        the log or the healthcheck output names, then `docker compose up -d SERVICE`. For a
        failed one-shot service (migration), read its log and re-run it before deploying.""",
    references=["runbook 000 DICOM viewer: docker compose ps", "runbook: Container checks"],
)
def test_service_running_and_healthy(target: Service, docker_client: docker.DockerClient) -> None:
    snap = _snapshot(docker_client, target.project)
    mine = _of(snap, target)
    attach("containers", mine)
    assert mine, (f"{target.name}: no container of service {target.name} in project "
                  f"{target.project or '(any)'} (the service is not deployed)")
    problems = []
    for c in mine:
        if target.one_shot:
            if c.status == "exited" and c.exit_code != 0:
                problems.append(f"{c.name} (one-shot) exited {c.exit_code}, expected 0")
            elif c.status not in ("exited", "running"):
                problems.append(f"{c.name} (one-shot) is {c.status}")
            continue
        if not c.running:
            oom = ", OOM-killed" if c.oom_killed else ""
            problems.append(f"{c.name} is {c.status} (exit code {c.exit_code}{oom}), "
                            "expected running")
        elif c.health is not None and c.health != "healthy":
            last = f"; last healthcheck: {c.health_log[-1]!r}" if c.health_log else ""
            problems.append(f"{c.name} is running but {c.health}{last}")
    assert not problems, f"{target.name}: " + "; ".join(problems)


@check(
    id="HLT-006",
    title="Containers are not restarting repeatedly and were not OOM-killed",
    severity="critical",
    schedules=["daily", "postdeploy"],
    targets=services,
    rationale="""A container in a restart loop looks 'running' most of the time; one killed by
        the kernel for exceeding its memory limit loses its in-flight work. Both are early
        signs of an outage (runbooks: restart count above a few, OOMKilled=true).""",
    remediation="""Read `docker inspect SERVICE` (RestartCount, State.OOMKilled) and the
        container log before the restart: raise the memory limit or fix the leak for an OOM
        kill; fix the crash named in the log for a restart loop, then recreate the
        container (`docker compose up -d --force-recreate SERVICE`).""",
    references=["runbook: Container checks (restart count, OOM)"],
)
def test_service_stable(target: Service, inventory: Inventory,
                        docker_client: docker.DockerClient) -> None:
    limit = int(inventory.threshold("restart_count_max"))
    snap = _snapshot(docker_client, target.project)
    mine = _of(snap, target)
    attach("containers", [{"name": c.name, "restart_count": c.restart_count,
                           "oom_killed": c.oom_killed, "status": c.status,
                           "started_at": c.started_at} for c in mine])
    attach_threshold(restart_count_max=limit)
    assert mine, (f"{target.name}: no container of service {target.name} in project "
                  f"{target.project or '(any)'} (the service is not deployed)")
    problems = []
    for c in mine:
        if c.restart_count > limit:
            problems.append(f"{c.name} restarted {c.restart_count} times, limit {limit}")
        if c.oom_killed:
            problems.append(f"{c.name} was OOM-killed (exit code {c.exit_code})")
    assert not problems, f"{target.name}: " + "; ".join(problems)


@check(
    id="HLT-007",
    title="No container of the project is exited or dead unexpectedly",
    severity="normal",
    schedules=["daily", "postdeploy"],
    targets="docker",
    rationale="""Containers the inventory does not list still belong to the deployment: an
        exited sidecar, a crashed worker replica or a leftover of a failed deploy is either
        missing functionality or clutter that hides the next real failure. Only one-shot
        services that exited 0 are expected to be stopped.""",
    remediation="""List them with `docker compose ps -a`; restart what should run, remove
        what is left over (`docker compose rm SERVICE`), and add real one-shot services to
        docker.one_shot in the inventory.""",
    references=["runbook 000 DICOM viewer: docker compose ps"],
)
def test_no_unexpected_exited_containers(target: Docker,
                                         docker_client: docker.DockerClient) -> None:
    snap = _snapshot(docker_client, target.project)
    attach("containers", snap)
    assert snap, (f"docker: project {target.project or '(any)'} has no container at all "
                  "(nothing deployed, or the wrong project name in the inventory)")
    bad = [c for c in snap if c.status in ("exited", "dead")
           and not (c.service in target.one_shot and c.exit_code == 0 and not c.oom_killed)]
    assert not bad, ("docker: " + "; ".join(
        f"{c.name} is {c.status} (exit code {c.exit_code}{', OOM-killed' if c.oom_killed else ''})"
        for c in bad) + f" in project {target.project or '(any)'}")


@check(
    id="HLT-010",
    title="Container logs hold few ERROR lines over the last 24 hours",
    severity="normal",
    schedules=["daily"],
    targets=services,
    rationale="""Errors that do not yet break a health endpoint show up in the logs first
        (failed jobs, upstream timeouts, retries that eventually give up). The runbooks'
        daily review greps the last day of logs for ERROR; a count above the threshold is
        worth an engineer's look before users notice.""",
    remediation="""Read the top messages in the evidence and `docker compose logs --since 24h
        SERVICE | grep -E 'ERROR|CRITICAL'`; fix the most frequent cause (a dependency
        refusing connections, a failing job) or raise log_errors_max for this environment if
        the noise is accepted.""",
    references=["runbook: Daily log review"],
)
def test_service_logs_have_few_errors(target: Service, inventory: Inventory,
                                      docker_client: docker.DockerClient) -> None:
    limit = int(inventory.threshold("log_errors_max"))
    snap = cp.snapshot(docker_client, target.project, target=target.name)
    mine = _of(snap, target)
    assert mine, (f"{target.name}: no container of service {target.name} in project "
                  f"{target.project or '(any)'}, no logs to read")
    since = dt.datetime.now(dt.UTC) - LOG_WINDOW
    scans = cp.error_lines_many(docker_client, [c.name for c in mine], since=since,
                                target=target.name)
    attach("error lines (24 h)", scans)
    attach_threshold(log_errors_max=limit, window_h=24)
    total = sum(s.errors for s in scans)
    top = "; ".join(f"{n}x {msg!r}" for s in scans for msg, n in s.top[:2])
    assert total <= limit, (
        f"{target.name}: {total} ERROR/CRITICAL lines in the last 24 h, limit {limit}"
        + (f"; most frequent: {top}" if top else ""))


@check(
    id="HLT-012",
    title="Containers use less memory and CPU than their limits' share",
    severity="normal",
    schedules=["daily"],
    targets="docker",
    rationale="""A container near its memory limit is one allocation away from an OOM kill
        (HLT-006 sees it only afterwards); one at its CPU limit is throttled by the kernel
        and answers slowly while the host looks idle. The runbooks' `docker stats
        --no-stream` review, made a rule: memory (page cache excluded, as docker stats does)
        and CPU against the container's own limits. Containers without limits are listed in
        the evidence; whether limits must be set is the security checks' concern.""",
    remediation="""Run `docker stats --no-stream` and `docker top CONTAINER`: for memory, look
        for a leak (usage growing since the start) or large files in the container's tmpfs
        (/dev/shm, /tmp), restart it in a quiet moment and raise `mem_limit` if the load
        really grew; for CPU, find the busy process, then raise `cpus` or add replicas.""",
    references=["runbook: docker stats --no-stream", "runbook: Resource usage (CPU < 80 %)"],
)
def test_containers_within_resource_limits(target: Docker, inventory: Inventory,
                                           docker_client: docker.DockerClient) -> None:
    mem_max = inventory.threshold("container_memory_max_pct")
    cpu_max = inventory.threshold("container_cpu_max_pct")
    rows = cp.stats_many(docker_client, target.project, target="docker",
                         timeout_s=inventory.threshold("timeout_s"))
    attach_text("docker stats --no-stream", cp.stats_table(rows))
    no_mem = [s.name for s in rows if not s.memory_limit_bytes]
    no_cpu = [s.name for s in rows if s.cpu_limit is None]
    attach("stats", {"containers": [{**s.__dict__, "memory_pct": s.memory_pct,
                                     "cpu_pct_of_limit": s.cpu_pct_of_limit} for s in rows],
                     "without_memory_limit": no_mem, "without_cpu_limit": no_cpu})
    attach_threshold(container_memory_max_pct=mem_max, container_cpu_max_pct=cpu_max)
    project = target.project or "(any)"
    assert rows, f"docker: project {project} has no running container: nothing to measure"
    if len(no_mem) == len(rows) and len(no_cpu) == len(rows):
        pytest.skip(f"no running container of project {project} has a memory or CPU limit: "
                    "nothing to compare against (missing limits are a security finding)")
    problems = []
    for s in rows:
        if s.memory_pct is not None and s.memory_pct >= mem_max:
            problems.append(f"{s.name} uses {s.memory_pct:g}% of its memory limit "
                            f"({s.memory_used_bytes // 2**20} MiB of "
                            f"{s.memory_limit_bytes // 2**20} MiB), limit {mem_max:g}%")
        if s.cpu_pct_of_limit is not None and s.cpu_pct_of_limit >= cpu_max:
            problems.append(f"{s.name} uses {s.cpu_pct_of_limit:g}% of its CPU limit "
                            f"({s.cpu_pct:g}% CPU of {s.cpu_limit:g} CPUs), limit {cpu_max:g}%")
    assert not problems, "docker: " + "; ".join(problems)
