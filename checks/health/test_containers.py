"""Containers of the compose project: running, healthy, stable, and quiet in their logs.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer; pytest's
rewriting would append reprs of internal objects to them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import docker

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
