"""Container security from docker inspect (inspect only): root, privileged, Docker socket,
memory limit, added capabilities, read-only root filesystem. Every container of the project
counts, running or only created."""

from __future__ import annotations

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes.container_security import normalize_cap


def _facts(target, docker_inspect):
    """The project's containers, attached as evidence; none at all is a finding, not a pass."""
    facts = docker_inspect()
    attach("containers", [{"name": f.name, "service": f.service, "status": f.status,
                           "user": f.user, "privileged": f.privileged,
                           "socket_mounts": f.socket_mounts, "cap_add": f.cap_add,
                           "memory_limit": f.memory_limit, "readonly_rootfs": f.readonly_rootfs}
                          for f in facts])
    assert facts, (f"docker: no container found for project '{target.project}': nothing "
                   "was verified (wrong project label or engine?)")
    return facts


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
    facts = _facts(target, docker_inspect)
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
    facts = _facts(target, docker_inspect)
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
    facts = _facts(target, docker_inspect)
    bad = [f for f in facts if f.socket_mounts]
    assert not bad, "docker: Docker socket mounted in " + ", ".join(
        f"{f.name} ({'; '.join(f.socket_mounts)})" for f in bad)


@check(
    id="SEC-025",
    title="Every container has a memory limit",
    severity="normal",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="docker",
    rationale="A container without a memory limit can take the whole host's memory: one leak "
              "or one oversized request and the kernel OOM killer picks a victim among all "
              "services (often the database), not just the culprit.",
    remediation="Set `mem_limit:` (compose v2 `deploy.resources.limits.memory`) for the service "
                "from its observed peak plus headroom, and recreate it "
                "(`docker-compose up -d <service>`); remove containers nobody needs.",
    references=["CIS Docker Benchmark 5.10",
                "runbook 000 DICOM viewer: Performance Optimization (container resources)"],
)
def test_containers_have_memory_limit(target, docker_inspect):
    facts = _facts(target, docker_inspect)
    bad = [f for f in facts if f.memory_limit <= 0]
    assert not bad, "docker: no memory limit (HostConfig.Memory 0) on " + ", ".join(
        f"{f.name} (service {f.service}, {f.status})" for f in bad)


@check(
    id="SEC-026",
    title="No container adds dangerous capabilities (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ALL...)",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="docker",
    rationale="SYS_ADMIN is most of root (mount, namespaces, the classic cgroup release_agent "
              "escape), NET_ADMIN rewrites the host's or neighbours' network when it is shared, "
              "SYS_PTRACE reads other processes' memory, SYS_MODULE loads kernel code: each is "
              "one step from a privileged container, hence critical like SEC-017. A "
              "created-but-stopped container with them is one `docker start` away.",
    remediation="Remove the capability from cap_add and recreate the container; if a service "
                "really needs one (a VPN sidecar needs NET_ADMIN), list exactly that one in "
                "docker.allow_capabilities for the service, with a written reason.",
    references=["CIS Docker Benchmark 5.3", "Docker docs: Runtime privilege and Linux "
                "capabilities"],
)
def test_no_dangerous_capabilities(target, docker_inspect):
    facts = _facts(target, docker_inspect)
    found = []
    for f in facts:
        allowed = {normalize_cap(c) for c in target.allow_capabilities.get(f.service, [])}
        extra = [c for c in f.dangerous_caps if c not in allowed]
        if extra:
            found.append(f"{f.name} (service {f.service}, {f.status}): {', '.join(extra)}")
    assert not found, "docker: dangerous capabilities added: " + "; ".join(found)


@check(
    id="SEC-027",
    title="Containers run with a read-only root filesystem (unless allowed)",
    severity="minor",
    schedules=["weekly", "predeploy"],
    targets="docker",
    rationale="With a writable root filesystem an intruder can drop tools, web shells or "
              "modified binaries into the container and they survive until it is recreated; "
              "read-only makes every write an explicit tmpfs or volume.",
    remediation="Set `read_only: true` for the service and give it `tmpfs:` (e.g. /tmp, /run) "
                "or volumes for the paths it writes, then recreate it; list a service that "
                "cannot run that way in docker.allow_writable_rootfs with a reason.",
    references=["CIS Docker Benchmark 5.12"],
)
def test_readonly_root_filesystem(target, docker_inspect):
    facts = _facts(target, docker_inspect)
    bad = [f for f in facts if not f.readonly_rootfs and f.service not in
           target.allow_writable_rootfs]
    assert not bad, "docker: writable root filesystem (ReadonlyRootfs false) in " + ", ".join(
        f"{f.name} (service {f.service}, {f.status})" for f in bad)
