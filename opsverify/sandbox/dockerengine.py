"""Docker containers for the sandbox: a compose-like project on a private (or given) engine.

Why a private engine: the sandbox must never touch containers it did not create, and several
sandboxes may run at once (CI shards, a developer's demo next to the self-tests). Each sandbox
therefore starts its own ``dockerd`` with its own data root, exec root, socket and managed
containerd, all under its state directory. The engine is started with ``--bridge=none
--iptables=false --ip-forward=false --ip-masq=false`` so it changes neither the host's
firewall nor its routing; containers that must be reached use the host network.

No image registry is reachable, so the image is built locally: a busybox-static root
filesystem with a non-root user ``app`` (uid 1000), fed to ``docker import``.

The containers imitate what ``docker-compose`` makes for project ``opsverify-sandbox``
(the ``com.docker.compose.*`` labels are what the docker checks select on): three long-running
services with healthchecks, memory limits, a non-root user, a read-only root filesystem (writes
go to a /tmp tmpfs) and a restart policy, and a one-shot ``migrate`` service that runs and
exits 0.

Under a sandbox profile (opsverify.sandbox.profiles) the compose project and the service names
are the reference system's (``sb.state["profile"]["docker"]``, from its example inventory), with
no one-shot service: :func:`project`, :func:`services` and :func:`one_shot` read them, with the
constants below as the generic sandbox's defaults. ``frontend`` and ``backend`` serve HTTP as in
the generic sandbox; every other service name is a long-running process with a file-based
healthcheck (like ``worker``). Faults that address a service the profile does not have (the
worker's) only work in the generic sandbox.

Everything the component needs later (``down`` in another process, a fault injected from the
CLI) is read from ``sb.state["docker"]``, never from attributes of this object.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import psutil
from docker.models.containers import Container

from opsverify.sandbox.base import Component, Fault, Sandbox

PROJECT = "opsverify-sandbox"
IMAGE = "opsverify-sandbox/busybox:1"
SERVICES: tuple[str, ...] = ("frontend", "backend", "worker")
ONE_SHOT: tuple[str, ...] = ("migrate",)
#: A container in the project that is created but never started (privileged cannot start here).
DEBUG_SERVICE = "debug"
APP_USER = "app"
MEMORY_LIMIT = "64m"
#: ``--cpus 0.5``: a CPU limit as compose's ``cpus:`` sets it (NanoCpus), so the container
#: stats check has a CPU limit to judge against.
CPU_LIMIT_NANO = 500_000_000
#: Healthcheck timing in nanoseconds (the Engine API unit). One second keeps fault injection
#: and revert quick (unhealthy after ~3 s, healthy ~1 s after a start) at a small CPU cost.
HEALTH_INTERVAL_NS = 1_000_000_000
HEALTH_TIMEOUT_NS = 2_000_000_000
HEALTH_RETRIES = 3
#: Every Engine API call goes through a client with this timeout.
API_TIMEOUT_S = 30
ENGINE_START_TIMEOUT_S = 30.0
#: ``sun_path`` is 108 bytes; dockerd puts ``containerd/containerd-debug.sock`` (and shims'
#: sockets) below the exec root, so keep exec root + socket well below that.
MAX_SOCKET_DIR_LEN = 60
#: The busybox httpd ``healthy`` services serve a copy of the image's ``/www`` from the /tmp
#: tmpfs (the root filesystem is read-only); their healthcheck fetches ``/health``.
WWW_DIR = "/tmp/www"
HEALTH_FILE = f"{WWW_DIR}/health"
#: Writable tmpfs mounts of every service: the root filesystem is read-only (SEC checks), the
#: services write only below /tmp (health files, served copy); /dev/shm stays Docker's own tmpfs.
TMPFS = {"/tmp": "size=16m,mode=1777"}
#: Lines the healthy services log at start: a few INFO lines and one ERROR line, well below
#: any sensible error-count threshold (the ``container_error_logs`` fault emits many).
HEALTHY_ERROR_LINES = 1
FAULT_ERROR_LINES = 200


def _log(msg: str) -> None:
    """One line on stderr: the sandbox's way to say what it could not do."""
    print(f"opsverify sandbox: {' '.join(msg.split())}", file=sys.stderr, flush=True)


def _ts() -> str:
    """Shell fragment printing a UTC ISO-8601 timestamp inside a busybox container."""
    return "$(date -u +%Y-%m-%dT%H:%M:%SZ)"


# --- engine location -----------------------------------------------------------------------------
def _engine_dirs(sb: Sandbox) -> dict[str, str]:
    """Paths of the private engine. Socket-bearing dirs are moved to /run if the state dir is long.

    The data root stays under the state dir (it holds the cached image); only the exec root and
    the API socket need short paths.
    """
    base = sb.path("docker")
    sock_base = base
    if len(str(base / "exec")) > MAX_SOCKET_DIR_LEN:
        digest = hashlib.sha256(str(sb.state_dir.resolve()).encode()).hexdigest()[:10]
        sock_base = Path("/run") / f"opsverify-{digest}"
    return {
        "base": str(base),
        "data_root": str(base / "data"),
        "exec_root": str(sock_base / "exec"),
        "socket": str(sock_base / "docker.sock"),
        "pidfile": str(base / "dockerd.pid"),
        "config": str(base / "daemon.json"),
    }


def _socket_path(url: str) -> str | None:
    """The filesystem path of a ``unix://`` engine URL (``None`` for tcp/ssh engines)."""
    if url.startswith("unix://"):
        return url[len("unix://") :]
    if url.startswith("/"):
        return url
    return None


def _client(url: str, timeout: int = API_TIMEOUT_S) -> docker.DockerClient:
    return docker.DockerClient(base_url=url, timeout=timeout)


@contextlib.contextmanager
def engine(sb: Sandbox) -> Iterator[docker.DockerClient]:
    """A client for the sandbox's engine (closed afterwards); raises if docker is unavailable."""
    st = sb.state.get("docker", {})
    if not st.get("available"):
        raise RuntimeError("docker is not available in this sandbox")
    client = _client(st["url"])
    try:
        yield client
    finally:
        client.close()


def _ping(url: str, timeout: int = 3) -> bool:
    try:
        client = _client(url, timeout=timeout)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:  # DockerException, requests' ConnectionError, socket errors...
        return False
    finally:
        client.close()


def _dockerd_supports(flag: str) -> bool:
    """Whether this dockerd knows ``flag`` (``--ip6tables`` appeared in 20.10)."""
    try:
        out = subprocess.run(
            ["dockerd", "--help"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in out.stdout + out.stderr


def _unescape(field: str) -> str:
    """Decode /proc/mounts' octal escapes (``\\040`` for a space, ``\\011`` for a tab...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_under(prefixes: list[str]) -> list[str]:
    """Mount points below any of ``prefixes`` (from /proc/mounts), deepest first."""
    found: list[str] = []
    with open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 2:
                continue
            mp = _unescape(fields[1])
            if any(mp == p or mp.startswith(p.rstrip("/") + "/") for p in prefixes):
                found.append(mp)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def _umount_all(prefixes: list[str]) -> list[str]:
    """Lazily unmount whatever is mounted below ``prefixes``; return what is still mounted."""
    for mp in _mounts_under(prefixes):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=10, check=False)
    return _mounts_under(prefixes)


def _kill_strays(exec_root: str) -> None:
    """Kill containerd shims and other processes still bound to this engine's containerd.

    Shims are reparented to init when dockerd stops, so ``stop_processes`` (which follows
    children) cannot see them; they are found by the containerd address in their arguments,
    which is unique to this sandbox.
    """
    marker = exec_root.rstrip("/") + "/"
    victims: list[psutil.Process] = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in cmd and p.pid != os.getpid():
            victims.append(p)
    for p in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(victims, timeout=5)


# --- image ---------------------------------------------------------------------------------------
def _rootfs_tar() -> bytes:
    """A busybox-static root filesystem as a tar: applet links, a non-root user, a web root."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, timeout=10, check=True
    ).stdout.split()
    buf = io.BytesIO()

    def add_dir(tf: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0) -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, mode, uid, uid, time.time()
        tf.addfile(ti)

    def add_file(
        tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644, uid: int = 0
    ) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, uid, time.time()
        tf.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in ("bin", "etc", "var", "var/run", "root"):
            add_dir(tf, d)
        add_dir(tf, "tmp", 0o1777)
        add_dir(tf, "home", 0o755)
        add_dir(tf, "home/app", 0o755, uid=1000)
        add_dir(tf, "www", 0o755, uid=1000)
        add_file(tf, "bin/busybox", Path(busybox).read_bytes(), 0o755)
        for applet in applets:
            if applet == "busybox":
                continue
            ti = tarfile.TarInfo(f"bin/{applet}")
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, "busybox", 0o777
            tf.addfile(ti)
        add_file(
            tf,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        add_file(tf, "etc/group", b"root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")
        add_file(tf, "www/index.html", b"<h1>opsverify sandbox</h1>\n", uid=1000)
        add_file(tf, "www/health", b'{"status":"healthy"}\n', uid=1000)
    return buf.getvalue()


def ensure_image(client: docker.DockerClient) -> bool:
    """Import the busybox image unless the engine has it already; return True if built."""
    try:
        client.images.get(IMAGE)
        return False
    except docker.errors.ImageNotFound:
        pass
    repo, tag = IMAGE.rsplit(":", 1)
    client.api.import_image_from_data(
        _rootfs_tar(),
        repository=repo,
        tag=tag,
        changes=[
            "ENV PATH=/bin",
            "USER app",
            "WORKDIR /home/app",
            "LABEL org.opencontainers.image.title=opsverify-sandbox-busybox",
        ],
    )
    client.images.get(IMAGE)
    return True


# --- containers ----------------------------------------------------------------------------------
def _profile_docker(sb: Sandbox | None) -> dict[str, Any]:
    """The profile's compose names (``{}``: the generic sandbox, or no sandbox at hand)."""
    if sb is None:
        return {}
    data: dict[str, Any] = (sb.state.get("profile") or {}).get("docker") or {}
    return data


def project(sb: Sandbox | None = None) -> str:
    """The compose project name: the profile's, else :data:`PROJECT`."""
    return str(_profile_docker(sb).get("project") or PROJECT)


def services(sb: Sandbox | None = None) -> tuple[str, ...]:
    """The long-running services: the profile's, else :data:`SERVICES`."""
    given = _profile_docker(sb).get("services")
    return tuple(given) if given else SERVICES


def one_shot(sb: Sandbox | None = None) -> tuple[str, ...]:
    """The one-shot services: the profile's (none in the examples), else :data:`ONE_SHOT`."""
    prof = _profile_docker(sb)
    return tuple(prof.get("one_shot", ())) if prof else ONE_SHOT


def container_name(service: str, sb: Sandbox | None = None) -> str:
    """Compose v1 naming: ``<project>_<service>_<n>`` (the project of ``sb``'s profile)."""
    return f"{project(sb)}_{service}_1"


def _labels(service: str, sb: Sandbox | None = None) -> dict[str, str]:
    return {
        "com.docker.compose.project": project(sb),
        "com.docker.compose.service": service,
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.container-number": "1",
        "com.docker.compose.version": "1.29.2",
    }


def _healthcheck(test: str) -> dict[str, Any]:
    return {
        "test": ["CMD-SHELL", test],
        "interval": HEALTH_INTERVAL_NS,
        "timeout": HEALTH_TIMEOUT_NS,
        "retries": HEALTH_RETRIES,
        "start_period": 0,
    }


def _info(service: str, msg: str) -> str:
    return f'echo "{_ts()} INFO {service}: {msg}"'


def service_spec(sb: Sandbox, service: str) -> dict[str, Any]:
    """The healthy ``containers.run`` arguments of one service (what compose would create)."""
    common: dict[str, Any] = {
        "name": container_name(service, sb),
        "labels": _labels(service, sb),
        "network_mode": "host",
        "init": True,
        "user": APP_USER,
        "mem_limit": MEMORY_LIMIT,
        "nano_cpus": CPU_LIMIT_NANO,
        "read_only": True,
        "tmpfs": dict(TMPFS),
        "restart_policy": {"Name": "unless-stopped"},
        "detach": True,
        "log_config": {"type": "json-file", "config": {"max-size": "10m"}},
    }
    if service in ("frontend", "backend"):
        port = sb.port(f"docker_{service}")
        lines = [
            _info(service, "starting"),
            _info(service, f"listening on 127.0.0.1:{port}"),
            _info(service, "ready"),
        ]
        if service == "backend":
            lines.append(f'echo "{_ts()} ERROR backend: upstream timeout (retried, recovered)"')
        serve = f"cp -r /www {WWW_DIR} && exec httpd -f -p 127.0.0.1:{port} -h {WWW_DIR}"
        script = "; ".join([*lines, serve])
        health = f"wget -q -O /dev/null http://127.0.0.1:{port}/health"
        return {**common, "command": ["sh", "-c", script], "healthcheck": _healthcheck(health)}
    if service == "worker":
        script = "; ".join(
            [
                _info("worker", "starting"),
                _info("worker", "connected to queue"),
                "touch /tmp/healthy",
                "exec sleep 2147483647",
            ]
        )
        return {
            **common,
            "command": ["sh", "-c", script],
            "healthcheck": _healthcheck("test -f /tmp/healthy"),
        }
    if service == "migrate":
        script = "; ".join(
            [
                _info("migrate", "applying 3 migrations"),
                _info("migrate", "database at head"),
                "exit 0",
            ]
        )
        return {**common, "command": ["sh", "-c", script], "restart_policy": {"Name": "no"}}
    if service in services(sb):
        # A profile's other services (nginx, postgres, ml...): long-running, healthy by file.
        script = "; ".join(
            [_info(service, "starting"), _info(service, "ready"), "touch /tmp/healthy",
             "exec sleep 2147483647"]
        )
        return {
            **common,
            "command": ["sh", "-c", script],
            "healthcheck": _healthcheck("test -f /tmp/healthy"),
        }
    raise ValueError(f"unknown service {service!r}")


def _remove(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True, v=True)


def run_service(
    client: docker.DockerClient, sb: Sandbox, service: str, **overrides: Any
) -> Container:
    """(Re)create a service's container from its healthy spec with ``overrides`` applied."""
    _remove(client, container_name(service, sb))
    spec = {**service_spec(sb, service), **overrides}
    return client.containers.run(IMAGE, **spec)


def wait_for(
    client: docker.DockerClient,
    name: str,
    pred: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Poll ``docker inspect`` of ``name`` until ``pred(attrs)``; return the attrs or raise."""
    deadline = time.monotonic() + timeout
    attrs: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            attrs = client.api.inspect_container(name)
        except docker.errors.NotFound:
            attrs = {}
        if attrs and pred(attrs):
            return attrs
        time.sleep(0.2)
    state = attrs.get("State", {})
    raise TimeoutError(f"{name}: not {what} after {timeout:.0f}s (state: {state})")


def _health(attrs: dict[str, Any]) -> str:
    return str(attrs.get("State", {}).get("Health", {}).get("Status", ""))


def is_healthy(attrs: dict[str, Any]) -> bool:
    return bool(attrs["State"].get("Running")) and _health(attrs) == "healthy"


def restore_service(sb: Sandbox, service: str) -> None:
    """Recreate a service healthy and wait for its healthcheck: every docker fault's revert."""
    with engine(sb) as client:
        run_service(client, sb, service)
        wait_for(client, container_name(service, sb), is_healthy, "healthy")


def project_containers(client: docker.DockerClient, sb: Sandbox | None = None) -> list[Container]:
    """Every container of the sandbox's compose project (``sb``'s profile's), running or not."""
    return client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project(sb)}"}
    )


# --- faults --------------------------------------------------------------------------------------
def _inject_exited(sb: Sandbox) -> None:
    with engine(sb) as client:
        client.containers.get(container_name("backend", sb)).stop(timeout=5)
        wait_for(
            client,
            container_name("backend", sb),
            lambda a: a["State"]["Status"] == "exited",
            "exited",
        )


def _inject_unhealthy(sb: Sandbox) -> None:
    with engine(sb) as client:
        c = client.containers.get(container_name("frontend", sb))
        res = c.exec_run(["rm", "-f", HEALTH_FILE])
        if res.exit_code != 0:
            raise RuntimeError(f"could not remove {HEALTH_FILE}: {res.output!r}")
        wait_for(client, c.name, lambda a: _health(a) == "unhealthy", "unhealthy")


def _inject_restart_loop(sb: Sandbox) -> None:
    script = f'{_info("worker", "starting")}; echo "{_ts()} INFO worker: queue not ready"; exit 3'
    with engine(sb) as client:
        run_service(
            client,
            sb,
            "worker",
            command=["sh", "-c", script],
            restart_policy={"Name": "always"},
        )
        wait_for(
            client,
            container_name("worker", sb),
            lambda a: a.get("RestartCount", 0) >= 4,
            "restarted 4 times",
            timeout=60,
        )


def _inject_oom(sb: Sandbox) -> None:
    # The worker's main process needs a 64 MiB buffer (dd filling it from /dev/zero) under a
    # 32 MiB limit without swap: the kernel OOM-kills it (exit 137). Docker 20.10 records
    # State.OOMKilled only when the container exits, and clears it on a restart, so the
    # restart policy is "no": the worker stays exited with OOMKilled=true, which is what an
    # OOM-killed service looks like (a "not running" check sees it too).
    script = "; ".join(
        [
            _info("worker", "starting"),
            _info("worker", "loading batch into memory"),
            "exec dd if=/dev/zero of=/dev/null bs=64M count=1",
        ]
    )
    with engine(sb) as client:
        run_service(
            client,
            sb,
            "worker",
            command=["sh", "-c", script],
            mem_limit="32m",
            memswap_limit="32m",
            restart_policy={"Name": "no"},
        )
        wait_for(
            client,
            container_name("worker", sb),
            lambda a: a["State"]["Status"] == "exited" and bool(a["State"].get("OOMKilled")),
            "exited OOM-killed",
        )


def _inject_root_socket(sb: Sandbox) -> None:
    sock = _socket_path(sb.state["docker"]["url"]) or "/var/run/docker.sock"
    with engine(sb) as client:
        run_service(
            client,
            sb,
            "worker",
            user="root",
            volumes={sock: {"bind": "/var/run/docker.sock", "mode": "rw"}},
        )
        wait_for(client, container_name("worker", sb), is_healthy, "healthy")


def _inject_privileged(sb: Sandbox) -> None:
    # Privileged containers cannot start on this machine: created, never started, still
    # inspectable (HostConfig.Privileged) like any forgotten debug container.
    with engine(sb) as client:
        _remove(client, container_name(DEBUG_SERVICE, sb))
        client.containers.create(
            IMAGE,
            command=["sleep", "3600"],
            name=container_name(DEBUG_SERVICE, sb),
            labels=_labels(DEBUG_SERVICE, sb),
            network_mode="host",
            privileged=True,
            user="root",
        )


def _revert_privileged(sb: Sandbox) -> None:
    with engine(sb) as client:
        _remove(client, container_name(DEBUG_SERVICE, sb))


def _inject_error_logs(sb: Sandbox) -> None:
    loop = (
        f"i=0; while [ $i -lt {FAULT_ERROR_LINES} ]; do "
        f'echo "{_ts()} ERROR worker: job $i failed: connection refused"; i=$((i+1)); done'
    )
    script = "; ".join(
        [_info("worker", "starting"), loop, "touch /tmp/healthy", "exec sleep 2147483647"]
    )
    with engine(sb) as client:
        run_service(client, sb, "worker", command=["sh", "-c", script])
        wait_for(client, container_name("worker", sb), is_healthy, "healthy")


def _restorer(service: str) -> Callable[[Sandbox], None]:
    def revert(sb: Sandbox) -> None:
        restore_service(sb, service)

    return revert


# --- component -----------------------------------------------------------------------------------
class DockerComponent(Component):
    """Containers of a compose project (``opsverify-sandbox``, or the profile's) on a private or
    given Docker engine."""

    name = "docker"

    def up(self, sb: Sandbox) -> None:
        t0 = time.monotonic()
        # A private engine from an earlier ``up`` of this sandbox (or one that crashed) goes
        # first: otherwise it would be orphaned when this run picks an external engine.
        self._stop_private(sb)
        st: dict[str, Any] = {"available": False, "private": False, "timings": {}}
        sb.state["docker"] = st
        sb.save()
        url = self._external_engine()
        if url is None:
            try:
                url = self._start_private(sb, st)
            except Exception as exc:  # any reason: binary missing, not root, start failure
                _log(f"docker engine unavailable ({exc}); docker section left out of inventory")
                self._stop_private(sb)
                st["available"] = False
                sb.state.get("inventory", {}).pop("docker", None)
                sb.save()
                return
        st.update({"available": True, "url": url})
        sb.save()
        with engine(sb) as client:
            t1 = time.monotonic()
            built = ensure_image(client)
            st["timings"]["image_s"] = round(time.monotonic() - t1, 3)
            st["image_built"] = built
            t2 = time.monotonic()
            for c in project_containers(client, sb):  # left over from a crashed run
                c.remove(force=True, v=True)
            for service in (*services(sb), *one_shot(sb)):
                run_service(client, sb, service)
            for service in one_shot(sb):
                wait_for(
                    client,
                    container_name(service, sb),
                    lambda a: a["State"]["Status"] == "exited" and a["State"]["ExitCode"] == 0,
                    "exited 0",
                )
            for service in services(sb):
                wait_for(client, container_name(service, sb), is_healthy, "healthy")
            st["timings"]["containers_s"] = round(time.monotonic() - t2, 3)
        section: dict[str, Any] = {
            "url": url,
            "project": project(sb),
            "services": list(services(sb)),
            "one_shot": list(one_shot(sb)),
            "allow_root": [],
            "allow_privileged": [],
        }
        if _profile_docker(sb).get("log_patterns"):  # the profile's example declares some
            section["log_patterns"] = [dict(p) for p in _profile_docker(sb)["log_patterns"]]
        sb.inventory_section("docker", section)
        st["timings"]["up_s"] = round(time.monotonic() - t0, 3)
        sb.save()

    def down(self, sb: Sandbox) -> None:
        t0 = time.monotonic()
        st = sb.state.get("docker", {})
        if st.get("available") and st.get("url"):
            try:
                client = _client(st["url"], timeout=10)
                try:
                    for c in project_containers(client, sb):
                        c.remove(force=True, v=True)
                finally:
                    client.close()
            except Exception as exc:  # engine already gone: nothing to remove through it
                if not st.get("private"):
                    _log(f"could not remove docker containers: {exc}")
        self._stop_private(sb)  # also stops PIDs recorded without dirs (a crash mid-start)
        st["available"] = False
        st.setdefault("timings", {})["down_s"] = round(time.monotonic() - t0, 3)
        sb.state["docker"] = st
        sb.save()

    def faults(self) -> list[Fault]:
        return [
            Fault(
                "container_exited",
                "health",
                "the backend container is stopped (Exited) while it should be running",
                _inject_exited,
                _restorer("backend"),
            ),
            Fault(
                "container_unhealthy",
                "health",
                "the frontend's healthcheck fails (its /health file is gone): unhealthy",
                _inject_unhealthy,
                _restorer("frontend"),
            ),
            Fault(
                "container_restart_loop",
                "health",
                "the worker exits 3 at start under restart=always: RestartCount >= 4",
                _inject_restart_loop,
                _restorer("worker"),
            ),
            Fault(
                "container_oom_killed",
                "health",
                "the worker, limited to 32 MiB without swap, is OOM-killed (exit 137, no restart)",
                _inject_oom,
                _restorer("worker"),
            ),
            Fault(
                "container_error_logs",
                "health",
                f"the worker logs {FAULT_ERROR_LINES} ERROR lines",
                _inject_error_logs,
                _restorer("worker"),
            ),
            Fault(
                "container_root_docker_socket",
                "security",
                "the worker runs as root with the engine's Docker socket mounted",
                _inject_root_socket,
                _restorer("worker"),
            ),
            Fault(
                "container_privileged",
                "security",
                "a privileged 'debug' container exists in the project (created, not started)",
                _inject_privileged,
                _revert_privileged,
            ),
        ]

    # --- engine ----------------------------------------------------------------------------------
    @staticmethod
    def _external_engine() -> str | None:
        """The engine named by ``OPSVERIFY_DOCKER_HOST`` if it answers a ping, else None."""
        given = os.environ.get("OPSVERIFY_DOCKER_HOST", "").strip()
        if not given:
            return None
        url = f"unix://{given}" if given.startswith("/") else given
        if _ping(url, timeout=5):
            return url
        _log(f"OPSVERIFY_DOCKER_HOST={given} does not answer; starting a private engine")
        return None

    def _start_private(self, sb: Sandbox, st: dict[str, Any]) -> str:
        """Start this sandbox's own dockerd (and its managed containerd); return its URL."""
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd not found on PATH")
        if os.geteuid() != 0:
            raise RuntimeError("dockerd needs root")
        dirs = _engine_dirs(sb)
        st.update({"private": True, "dirs": dirs})
        sb.save()
        self._stop_private(sb)  # a dockerd left by a crash of this same sandbox
        for key in ("data_root", "exec_root"):
            Path(dirs[key]).mkdir(parents=True, exist_ok=True, mode=0o700)
        sb.path("logs").mkdir(parents=True, exist_ok=True)
        # Own (empty) daemon config: /etc/docker/daemon.json must not leak into the sandbox.
        Path(dirs["config"]).write_text("{}\n")
        for stale in (dirs["socket"], dirs["pidfile"]):
            Path(stale).unlink(missing_ok=True)
        argv = [
            "dockerd",
            "--config-file",
            dirs["config"],
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--data-root",
            dirs["data_root"],
            "--exec-root",
            dirs["exec_root"],
            "--pidfile",
            dirs["pidfile"],
            "-H",
            f"unix://{dirs['socket']}",
        ]
        if _dockerd_supports("--ip6tables"):
            argv.insert(4, "--ip6tables=false")
        url = f"unix://{dirs['socket']}"
        t0 = time.monotonic()
        pid = sb.spawn(self.name, argv, log="dockerd.log")
        st["pid"] = pid
        sb.save()
        deadline = t0 + ENGINE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                tail = sb.path("logs", "dockerd.log").read_text(errors="replace")[-300:]
                raise RuntimeError(f"dockerd exited at start: {tail.strip().splitlines()[-1:]}")
            if Path(dirs["socket"]).exists() and _ping(url, timeout=2):
                st["timings"]["dockerd_start_s"] = round(time.monotonic() - t0, 3)
                return url
            time.sleep(0.05)
        raise RuntimeError(f"dockerd did not answer within {ENGINE_START_TIMEOUT_S:.0f}s")

    def _stop_private(self, sb: Sandbox) -> None:
        """Stop the private dockerd by PID, then its strays and mounts: nothing may remain."""
        st = sb.state.get("docker", {})
        dirs = st.get("dirs")
        sb.stop_processes(self.name, timeout=15)
        if not dirs:
            return
        pidfile = Path(dirs["pidfile"])
        if pidfile.exists():  # a dockerd whose PID was not recorded (crash between spawn & save)
            with contextlib.suppress(ValueError, psutil.Error):
                p = psutil.Process(int(pidfile.read_text().strip()))
                if dirs["exec_root"] in " ".join(p.cmdline()):
                    p.terminate()
                    p.wait(timeout=15)
        _kill_strays(dirs["exec_root"])
        left = _umount_all([dirs["data_root"], dirs["exec_root"]])
        if left:
            _log(f"still mounted after docker down: {left}")
        for stale in (dirs["socket"], dirs["pidfile"]):
            Path(stale).unlink(missing_ok=True)
        if not left:
            # The exec root is runtime state only (containerd sockets, netns files): drop it,
            # and its short-path parent in /run if that is where it lived.
            shutil.rmtree(dirs["exec_root"], ignore_errors=True)
            parent = Path(dirs["exec_root"]).parent
            if str(parent).startswith("/run/opsverify-"):
                shutil.rmtree(parent, ignore_errors=True)
