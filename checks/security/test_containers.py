"""Container security from docker inspect: root, privileged, Docker socket (inspect only)."""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach


def _evidence(facts):
    attach("containers", [{"name": f.name, "service": f.service, "status": f.status,
                           "user": f.user, "privileged": f.privileged,
                           "socket_mounts": f.socket_mounts, "cap_add": f.cap_add}
                          for f in facts])


def _nonempty(facts, target):
    assert facts, (f"docker: no container found for project '{target.project}': nothing "
                   "was verified (wrong project label or engine?)")


@check(
    id="SEC-016",
    title="Containers do not run as root (unless allowed)",
    severity="normal",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="docker",
    rationale="A process running as root inside a container is root on the host after any "
              "container escape, and can modify its own image layers and mounted volumes.",
    remediation="Set `user: \"1000:1000\"` (or USER in the Dockerfile) for the service, fix file "
                "ownership of its volumes, recreate it (`docker-compose up -d <service>`); list "
                "a service in docker.allow_root only with a written reason.",
    references=["CIS Docker Benchmark 4.1", "runbook 000 DICOM viewer: Security Hardening"],
)
def test_containers_not_root(target, docker_inspect):
    facts = docker_inspect()
    _evidence(facts)
    _nonempty(facts, target)
    bad = [f for f in facts if f.runs_as_root and f.service not in target.allow_root]
    assert not bad, "docker: running as root: " + ", ".join(
        f"{f.name} (service {f.service}, user {f.user}, {f.status})" for f in bad)


@check(
    id="SEC-017",
    title="No container is privileged (unless allowed), running or not",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="docker",
    rationale="A privileged container has every capability and all host devices: starting it is "
              "root on the host. A created-but-stopped one is one `docker start` away.",
    remediation="Remove the container (`docker rm <name>`) or recreate it without "
                "`privileged: true`, adding only the capabilities it needs (cap_add); list a "
                "service in docker.allow_privileged only with a written reason.",
    references=["CIS Docker Benchmark 5.4"],
)
def test_no_privileged_containers(target, docker_inspect):
    facts = docker_inspect()
    _evidence(facts)
    _nonempty(facts, target)
    bad = [f for f in facts if f.privileged and f.service not in target.allow_privileged]
    assert not bad, "docker: privileged container(s): " + ", ".join(
        f"{f.name} (service {f.service}, {f.status})" for f in bad)


@check(
    id="SEC-018",
    title="No container mounts the Docker socket",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="docker",
    rationale="Whoever reaches the Docker socket controls the engine: it can start a privileged "
              "container with the host's root filesystem mounted.",
    remediation="Remove the /var/run/docker.sock volume from the service and recreate it; tools "
                "that need the API (scanners, log shippers) get a read-only socket proxy "
                "limited to the calls they use.",
    references=["CIS Docker Benchmark 5.31",
                "runbook 000 DICOM viewer: Security Hardening (trivy mounts the socket: run it "
                "as a one-off, never as a service)"],
)
def test_no_docker_socket_mounted(target, docker_inspect):
    facts = docker_inspect()
    _evidence(facts)
    _nonempty(facts, target)
    bad = [f for f in facts if f.socket_mounts]
    assert not bad, "docker: Docker socket mounted in " + ", ".join(
        f"{f.name} ({'; '.join(f.socket_mounts)})" for f in bad)
