"""The sandbox's skeleton: components that start real services, and named faults.

A component starts one real service (or lays out real material such as backups) on loopback,
records what it started in the sandbox state so that ``down`` works after a crash, and
contributes its part of the inventory that the sandbox writes. Faults are real
misconfigurations of those services, each revertible.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class Fault:
    """A named, revertible misconfiguration of a real component.

    ``area`` is the check area expected to catch it (health, resources, backup, tls, security,
    performance, database, cache). ``inject`` and ``revert`` take the running sandbox.
    """

    name: str
    area: str
    description: str
    inject: Callable[[Sandbox], None]
    revert: Callable[[Sandbox], None]


class SandboxError(RuntimeError):
    """An expected failure (missing package, port in use, service refused to start).

    The command line prints its message as one line, without a traceback.
    """


def require_binary(path: str, apt_package: str) -> str:
    """Return the absolute path of an executable, or explain which Debian package provides it."""
    found = path if os.path.isabs(path) and os.access(path, os.X_OK) else shutil.which(path)
    if not found:
        raise SandboxError(f"{path} not found: install it with `apt-get install {apt_package}`")
    return found


def run(
    argv: list[str],
    *,
    timeout: float = 30.0,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a short command with a timeout; on failure raise SandboxError with its output.

    Every sandbox command goes through here so a hung tool can never hang ``up`` or a fault,
    and a failure always says which command failed and what it printed.
    """
    try:
        proc = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{' '.join(argv[:4])} timed out after {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise SandboxError(f"{argv[0]} not found") from exc
    if check and proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip().splitlines()
        tail = " | ".join(out[-3:]) if out else "no output"
        raise SandboxError(f"{' '.join(argv[:4])} exited {proc.returncode}: {tail}")
    return proc


def _gone(proc: psutil.Process) -> bool:
    """Exited, or a zombie: a zombie holds no port or file and is only waiting to be reaped.

    Orphans are reaped by PID 1, which on some machines (containers, microVMs) does so only
    every second or two; waiting for the reap would make ``down`` take seconds for nothing.
    Our own children are reaped here.
    """
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(proc.pid, os.WNOHANG)
    return True


def wait_procs_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until every process has exited (zombies count as exited); return the others."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if not _gone(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.02)


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Wait until the given processes have exited; return the PIDs still alive."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return [p.pid for p in wait_procs_gone(procs, timeout)]


class Component:
    """One part of the sandbox. Subclasses implement ``up``/``down`` and list their faults."""

    name: str = "component"

    def up(self, sb: Sandbox) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def ready(self, sb: Sandbox) -> None:
        """Wait until the service is usable; called after every component's ``up``.

        Lets a slow starter (Prometheus publishes its first targets only after 5 s) overlap
        with the others: ``up`` only launches, ``ready`` waits. The default has nothing to wait for.
        """

    def down(self, sb: Sandbox) -> None:
        """Stop what ``up`` started; the default stops every process recorded under this name."""
        sb.stop_processes(self.name)

    def faults(self) -> list[Fault]:
        return []


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    """Wait until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


@dataclass
class Sandbox:
    """The running sandbox: a state directory, its ports, secrets, processes and inventory.

    ``state`` is persisted as JSON in ``state_dir/state.json`` after every change, so a new
    process (``python -m opsverify.sandbox down``) can stop what an earlier one started.
    """

    state_dir: Path
    state: dict[str, Any] = field(default_factory=dict)

    # --- persistence -------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def save(self) -> None:
        # The state holds passwords: written 0600 and replaced atomically, so a crash mid-write
        # never leaves ``down`` without a readable state.
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    @classmethod
    def load(cls, state_dir: Path) -> Sandbox:
        sb = cls(state_dir=state_dir)
        if sb.state_file.exists():
            sb.state = json.loads(sb.state_file.read_text())
        return sb

    # --- ports, secrets, inventory -----------------------------------------------------------
    def port(self, name: str) -> int:
        """A stable free port for ``name`` (allocated once, remembered in the state)."""
        ports = self.state.setdefault("ports", {})
        if name not in ports:
            ports[name] = free_port()
            self.save()
        return int(ports[name])

    def secret(self, var: str, value: str | None = None) -> str:
        """Record a secret environment variable (``${var}`` in the inventory) and return it."""
        env = self.state.setdefault("env", {})
        if var not in env:
            env[var] = value if value is not None else secrets.token_urlsafe(24)
            self.save()
        return str(env[var])

    def inventory_section(self, key: str, value: Any) -> None:
        """Set one top-level section of the inventory the sandbox writes."""
        self.state.setdefault("inventory", {})[key] = value
        self.save()

    def inventory_add(self, key: str, item: dict[str, Any]) -> None:
        """Add a named item to a list section (``http``, ``tls``, ...), replacing a same-named one.

        Several components contribute to the same list (nginx and PostgreSQL both add ``tls``
        items); replacing by name keeps a repeated ``up`` step from duplicating entries.
        """
        items = self.state.setdefault("inventory", {}).setdefault(key, [])
        items[:] = [i for i in items if i.get("name") != item.get("name")] + [item]
        self.save()

    def inventory_update(self, key: str, mapping: dict[str, Any]) -> None:
        """Merge keys into a mapping section (``security``): lists are extended without repeats."""
        section = self.state.setdefault("inventory", {}).setdefault(key, {})
        for k, v in mapping.items():
            if isinstance(v, list) and isinstance(section.get(k), list):
                section[k] = section[k] + [x for x in v if x not in section[k]]
            else:
                section[k] = v
        self.save()

    def path(self, *parts: str) -> Path:
        p = self.state_dir.joinpath(*parts)
        return p

    # --- processes -----------------------------------------------------------------------------
    def spawn(
        self,
        owner: str,
        argv: list[str],
        *,
        log: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start a long-running process in its own session, record its PID under ``owner``."""
        self.path("logs").mkdir(parents=True, exist_ok=True)
        logf = open(self.path("logs", log or f"{owner}.log"), "ab")  # noqa: SIM115
        full_env = {**os.environ, **(env or {})}
        ids: dict[str, Any] = {}
        if user:
            # Switch user in the child itself (not through runuser): the recorded PID is then
            # the service, and stopping it is not delayed by runuser's 2 s grace sleep.
            pw = pwd.getpwnam(user)
            ids = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            full_env.update({"HOME": pw.pw_dir, "USER": user, "LOGNAME": user})
        proc = subprocess.Popen(
            argv,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            **ids,
        )
        logf.close()
        self.state.setdefault("pids", {}).setdefault(owner, []).append(proc.pid)
        self.save()
        return proc.pid

    def stop_processes(self, owner: str, timeout: float = 5.0) -> None:
        """Stop every process recorded under ``owner`` (and its children): TERM, then KILL."""
        pids = self.state.get("pids", {}).pop(owner, [])
        procs: list[psutil.Process] = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                procs.extend([p, *p.children(recursive=True)])
            except psutil.NoSuchProcess:
                continue
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGTERM)
        alive = wait_procs_gone(procs, timeout)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        wait_procs_gone(alive, 2)
        self.save()
