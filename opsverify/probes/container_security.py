"""Container security facts from the Docker Engine API: inspect only, nothing is started.

Root, privileged, Docker socket, added capabilities, memory limit, read-only root filesystem.

Every container of the compose project counts, running or not: a privileged debug container
that was created and forgotten is one ``docker start`` away from owning the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors

from opsverify.errors import ProbeError

API_TIMEOUT_S = 30
SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock")
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
#: Capabilities that turn a container escape (or a compromised process) into control of the
#: host or its network: mount/namespaces, kernel modules, raw devices, tracing other processes,
#: reading any file, the host's clock, LSM policy, eBPF. ``ALL`` is all of them.
DANGEROUS_CAPABILITIES = frozenset({
    "ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "DAC_READ_SEARCH",
    "SYS_BOOT", "SYS_TIME", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON", "SYSLOG",
})


@dataclass
class ContainerFacts:
    name: str
    service: str
    status: str
    user: str
    runs_as_root: bool
    privileged: bool
    socket_mounts: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    memory_limit: int = 0  # bytes, HostConfig.Memory (0: unlimited)
    readonly_rootfs: bool = False

    @property
    def dangerous_caps(self) -> list[str]:
        """The added capabilities in :data:`DANGEROUS_CAPABILITIES`, normalised (``SYS_ADMIN``)."""
        return sorted({c for c in map(normalize_cap, self.cap_add)
                       if c in DANGEROUS_CAPABILITIES})


def normalize_cap(name: str) -> str:
    """``cap_sys_admin``, ``CAP_SYS_ADMIN`` and ``SYS_ADMIN`` are the same capability.
    >>> normalize_cap(" cap_net_admin ")
    'NET_ADMIN'
    """
    n = name.strip().upper()
    return n[4:] if n.startswith("CAP_") else n


def client(url: str, *, target: str, timeout_s: float) -> docker.DockerClient:
    try:
        c = docker.DockerClient(base_url=url, timeout=max(int(timeout_s), API_TIMEOUT_S))
        c.ping()
        return c
    except Exception as exc:  # DockerException, requests errors, socket errors
        raise ProbeError(target, f"cannot reach the Docker engine at {url}: "
                                 f"{' '.join(str(exc).split())[:300]}") from None


def is_root(user: str) -> bool:
    """``""`` (image default root), ``root``, ``0``, ``0:0``, ``root:...`` run as uid 0."""
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


def _is_socket(path: str) -> bool:
    return path in SOCKET_PATHS or path.endswith("/docker.sock")


def facts(attrs: dict[str, Any]) -> ContainerFacts:
    """The security-relevant part of one ``docker inspect``."""
    cfg = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
    labels = cfg.get("Labels") or {}
    name = str(attrs.get("Name", "")).lstrip("/")
    user = str(cfg.get("User") or "")
    sockets = [f"{m.get('Source')} -> {m.get('Destination')}" for m in attrs.get("Mounts") or []
               if _is_socket(str(m.get("Source", ""))) or _is_socket(str(m.get("Destination", "")))]
    return ContainerFacts(
        name=name,
        service=str(labels.get(COMPOSE_SERVICE) or name),
        status=str((attrs.get("State") or {}).get("Status", "")),
        user=user or "(image default: root)",
        runs_as_root=is_root(user),
        privileged=bool(host.get("Privileged")),
        socket_mounts=sockets,
        cap_add=list(host.get("CapAdd") or []),
        memory_limit=int(host.get("Memory") or 0),
        readonly_rootfs=bool(host.get("ReadonlyRootfs")),
    )


def project_containers(c: docker.DockerClient, project: str | None, *,
                       target: str) -> list[ContainerFacts]:
    """Every container of ``project`` (all containers of the engine when no project is given),
    created, running or exited."""
    filters = {"label": f"{COMPOSE_PROJECT}={project}"} if project else {}
    try:
        ids = [x["Id"] for x in c.api.containers(all=True, filters=filters)]
        out = []
        for cid in ids:
            try:
                out.append(facts(c.api.inspect_container(cid)))
            except docker.errors.NotFound:
                continue  # removed between list and inspect
        return sorted(out, key=lambda f: f.name)
    except docker.errors.DockerException as exc:
        raise ProbeError(target, f"Docker API call failed: {' '.join(str(exc).split())[:300]}"
                         ) from None
