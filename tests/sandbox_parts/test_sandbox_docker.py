"""Self-tests of the sandbox's Docker component against a real, private dockerd.

Each test observes the real engine (Engine API through the SDK, HTTP to the containers),
never the component's own bookkeeping: a fault counts only if the change is visible there.
Run: ``.venv/bin/pytest tests/sandbox_parts -p no:opsverify``.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import pytest

from opsverify.sandbox.base import Sandbox
from opsverify.sandbox.dockerengine import (
    IMAGE,
    ONE_SHOT,
    PROJECT,
    SERVICES,
    DockerComponent,
    container_name,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a private dockerd needs root"),
    pytest.mark.skipif(shutil.which("dockerd") is None, reason="dockerd is not installed"),
]


def new_sandbox(state_dir: Path) -> Sandbox:
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    return Sandbox(state_dir=state_dir)


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox with the docker component up for the whole module (down at the end)."""
    sandbox = new_sandbox(tmp_path_factory.mktemp("docker") / "state")
    comp = DockerComponent()
    t0 = time.monotonic()
    comp.up(sandbox)
    print(f"\ndocker up {time.monotonic() - t0:.2f}s timings={sandbox.state['docker']['timings']}")
    yield sandbox
    comp.down(sandbox)


@pytest.fixture()
def client(sb: Sandbox) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=sb.state["docker"]["url"], timeout=30)
    yield c
    c.close()


def inspect(client: docker.DockerClient, service: str) -> dict[str, Any]:
    return client.api.inspect_container(container_name(service))


def http_status(port: int, path: str = "/health") -> int | None:
    """HTTP status from 127.0.0.1:port, or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return None


def engine_processes(exec_root: str) -> list[psutil.Process]:
    """Live (non-zombie) processes bound to a private engine: dockerd, containerd, shims."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if exec_root in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as f:
        return [ln.split()[1] for ln in f if ln.split()[1].startswith(prefix)]


def assert_all_healthy(client: docker.DockerClient, sb: Sandbox) -> None:
    for service in SERVICES:
        attrs = inspect(client, service)
        assert attrs["State"]["Running"], service
        assert attrs["State"]["Health"]["Status"] == "healthy", service
        assert attrs["Config"]["User"] == "app", service
        assert attrs["HostConfig"]["Privileged"] is False, service
    for port in (sb.port("docker_frontend"), sb.port("docker_backend")):
        assert http_status(port) == 200


def test_private_engine_is_isolated(sb: Sandbox, client: docker.DockerClient) -> None:
    st = sb.state["docker"]
    assert st["available"] and st["private"]
    assert st["timings"]["dockerd_start_s"] < 10
    assert psutil.Process(st["pid"]).name() == "dockerd"
    info = client.info()
    assert info["DockerRootDir"] == st["dirs"]["data_root"]
    # no bridge network: only host and none exist, so no private address can appear
    assert {n.name for n in client.networks.list()} == {"host", "none"}
    assert len(st["dirs"]["socket"]) < 100


def test_up_makes_a_healthy_compose_project(sb: Sandbox, client: docker.DockerClient) -> None:
    assert_all_healthy(client, sb)
    for service in SERVICES:
        attrs = inspect(client, service)
        labels = attrs["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == PROJECT
        assert labels["com.docker.compose.service"] == service
        assert labels["com.docker.compose.oneoff"] == "False"
        assert labels["com.docker.compose.container-number"] == "1"
        hc = attrs["HostConfig"]
        assert hc["NetworkMode"] == "host"
        assert hc["Init"] is True
        assert hc["Memory"] == 64 * 2**20
        assert hc["RestartPolicy"]["Name"] == "unless-stopped"
        assert attrs["Config"]["Healthcheck"]["Test"][0] == "CMD-SHELL"
        assert attrs["Config"]["Image"] == IMAGE
        logs = client.containers.get(container_name(service)).logs().decode()
        assert logs.count(" INFO ") >= 2
        assert logs.count(" ERROR ") <= 1
    migrate = inspect(client, "migrate")
    assert migrate["State"]["Status"] == "exited"
    assert migrate["State"]["ExitCode"] == 0
    # the container really runs as the non-root user
    out = client.containers.get(container_name("worker")).exec_run(["id", "-u"]).output
    assert out.strip() == b"1000"


def test_inventory_section(sb: Sandbox) -> None:
    assert sb.state["inventory"]["docker"] == {
        "url": sb.state["docker"]["url"],
        "project": PROJECT,
        "services": list(SERVICES),
        "one_shot": list(ONE_SHOT),
        "allow_root": [],
        "allow_privileged": [],
    }
    assert sb.state["docker"]["url"].startswith("unix:///")


def test_image_is_cached(sb: Sandbox) -> None:
    """A second ``up`` on the same state dir reuses the image instead of importing it again."""
    assert sb.state["docker"]["image_built"] in (True, False)
    c = docker.DockerClient(base_url=sb.state["docker"]["url"], timeout=30)
    try:
        from opsverify.sandbox.dockerengine import ensure_image

        assert ensure_image(c) is False
    finally:
        c.close()


def _logs(client: docker.DockerClient, service: str) -> str:
    since = int(time.time()) - 24 * 3600
    return client.containers.get(container_name(service)).logs(since=since).decode()


def _obs_exited(client: docker.DockerClient, sb: Sandbox) -> None:
    assert inspect(client, "backend")["State"]["Status"] == "exited"
    assert http_status(sb.port("docker_backend")) is None


def _obs_unhealthy(client: docker.DockerClient, sb: Sandbox) -> None:
    attrs = inspect(client, "frontend")
    assert attrs["State"]["Running"]
    assert attrs["State"]["Health"]["Status"] == "unhealthy"
    assert http_status(sb.port("docker_frontend")) == 404


def _obs_restart_loop(client: docker.DockerClient, sb: Sandbox) -> None:
    assert inspect(client, "worker")["RestartCount"] >= 4


def _obs_oom(client: docker.DockerClient, sb: Sandbox) -> None:
    state = inspect(client, "worker")["State"]
    assert state["OOMKilled"] is True
    assert state["ExitCode"] == 137


def _obs_error_logs(client: docker.DockerClient, sb: Sandbox) -> None:
    assert _logs(client, "worker").count(" ERROR ") >= 200


def _obs_root_socket(client: docker.DockerClient, sb: Sandbox) -> None:
    attrs = inspect(client, "worker")
    assert attrs["Config"]["User"] == "root"
    assert "/var/run/docker.sock" in {m["Destination"] for m in attrs["Mounts"]}
    c = client.containers.get(container_name("worker"))
    assert c.exec_run(["id", "-u"]).output.strip() == b"0"
    assert c.exec_run(["test", "-S", "/var/run/docker.sock"]).exit_code == 0


def _obs_privileged(client: docker.DockerClient, sb: Sandbox) -> None:
    attrs = inspect(client, "debug")
    assert attrs["HostConfig"]["Privileged"] is True
    assert attrs["State"]["Status"] == "created"
    assert attrs["Config"]["Labels"]["com.docker.compose.project"] == PROJECT


OBSERVE: dict[str, Callable[[docker.DockerClient, Sandbox], None]] = {
    "container_exited": _obs_exited,
    "container_unhealthy": _obs_unhealthy,
    "container_restart_loop": _obs_restart_loop,
    "container_oom_killed": _obs_oom,
    "container_error_logs": _obs_error_logs,
    "container_root_docker_socket": _obs_root_socket,
    "container_privileged": _obs_privileged,
}


def test_fault_catalog() -> None:
    faults = DockerComponent().faults()
    assert {f.name for f in faults} == set(OBSERVE)
    areas = {f.name: f.area for f in faults}
    assert areas["container_root_docker_socket"] == areas["container_privileged"] == "security"
    assert {areas[n] for n in OBSERVE if "root" not in n and "privileged" not in n} == {"health"}


@pytest.mark.parametrize("name", list(OBSERVE))
def test_fault_inject_and_revert(name: str, sb: Sandbox, client: docker.DockerClient) -> None:
    fault = next(f for f in DockerComponent().faults() if f.name == name)
    t0 = time.monotonic()
    fault.inject(sb)
    t1 = time.monotonic()
    try:
        OBSERVE[name](client, sb)
    finally:
        fault.revert(sb)
    t2 = time.monotonic()
    print(f"\n{name}: inject {t1 - t0:.2f}s revert {t2 - t1:.2f}s")
    assert_all_healthy(client, sb)
    names = {c.name for c in client.containers.list(all=True)}
    assert container_name("debug") not in names
    assert _logs(client, "worker").count(" ERROR ") == 0
    assert inspect(client, "worker")["RestartCount"] == 0


def test_two_private_engines_side_by_side(
    sb: Sandbox, client: docker.DockerClient, tmp_path: Path
) -> None:
    """A second sandbox gets its own dockerd; stopping it leaves the first one untouched."""
    other = new_sandbox(tmp_path / "other")
    comp = DockerComponent()
    comp.up(other)
    try:
        o = other.state["docker"]
        assert o["private"] and o["pid"] != sb.state["docker"]["pid"]
        assert o["url"] != sb.state["docker"]["url"]
        oc = docker.DockerClient(base_url=o["url"], timeout=30)
        try:
            assert_all_healthy(oc, other)
            ids_other = {c.id for c in oc.containers.list(all=True)}
        finally:
            oc.close()
        assert ids_other.isdisjoint({c.id for c in client.containers.list(all=True)})
    finally:
        comp.down(other)
    assert not engine_processes(other.state["docker"]["dirs"]["exec_root"])
    assert not mounts_under(str(other.state_dir))
    assert_all_healthy(client, sb)


def test_external_engine_is_used_and_left_running(
    sb: Sandbox, client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OPSVERIFY_DOCKER_HOST the component uses that engine and never stops it."""
    monkeypatch.setenv("OPSVERIFY_DOCKER_HOST", sb.state["docker"]["url"])
    other = new_sandbox(tmp_path / "ext")
    comp = DockerComponent()
    comp.up(other)
    try:
        assert other.state["docker"]["private"] is False
        assert other.state["inventory"]["docker"]["url"] == sb.state["docker"]["url"]
    finally:
        comp.down(other)
    assert psutil.pid_exists(sb.state["docker"]["pid"])
    assert client.ping()
    assert not client.containers.list(all=True)  # down removed the project's containers
    # give the module's sandbox its containers back: a second ``up`` of the same sandbox
    # replaces its private engine (same socket) and reuses the cached image
    monkeypatch.delenv("OPSVERIFY_DOCKER_HOST")
    old_pid = sb.state["docker"]["pid"]
    DockerComponent().up(sb)
    assert sb.state["docker"]["private"] and sb.state["docker"]["image_built"] is False
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    assert_all_healthy(client, sb)


def test_engine_unavailable_is_reported_and_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPSVERIFY_DOCKER_HOST", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no dockerd on PATH
    other = new_sandbox(tmp_path / "none")
    other.inventory_section("docker", {"stale": True})
    DockerComponent().up(other)
    assert other.state["docker"]["available"] is False
    assert "docker" not in other.state["inventory"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "docker" in err[0] and "unavailable" in err[0]
    DockerComponent().down(other)


def test_down_leaves_nothing(sb: Sandbox) -> None:
    st = sb.state["docker"]
    exec_root, pid = st["dirs"]["exec_root"], st["pid"]
    assert engine_processes(exec_root)
    t0 = time.monotonic()
    DockerComponent().down(sb)
    elapsed = time.monotonic() - t0
    print(f"\ndocker down {elapsed:.2f}s")
    assert elapsed < 15
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not engine_processes(exec_root)
    assert not mounts_under(str(sb.state_dir))
    assert not mounts_under(exec_root)
    assert not Path(st["dirs"]["socket"]).exists()
