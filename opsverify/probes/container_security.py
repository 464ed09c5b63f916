"""Container security facts from the Docker Engine API: inspect only, nothing is started.

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
