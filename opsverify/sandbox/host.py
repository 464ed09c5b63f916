"""Host material for the sandbox: an env file, a log dir, a data mount and an sshd on loopback.

The host checks read files and filesystems through testinfra, locally (``local://``) and over
SSH (``ssh://``). So that both backends see the same, sandbox-owned material, this component
lays it out under ``STATE/host`` and starts a private sshd on ``127.0.0.1`` that accepts a
generated key for ``root``:

- ``app.env``: mode 0600, owned by root, random secrets, demo data disabled. The sandbox's
  service user is root (everything here runs as root), so root ownership is the correct one.
- ``log/``: an application log of modest size (``app.log``).
- ``data/``: a 64 MiB tmpfs, a real mount point whose usage a fault can drive near full
  without touching the host's disks.
- ``ssh/``: sshd config, host key, client key, an ssh client config (``ControlPath`` set,
  which testinfra does not do itself, so commands are multiplexed: ~100 ms instead of ~600 ms).
- a memory cgroup for the sshd (``SSHD_MEMORY_LIMIT``), like a systemd unit with
  ``MemoryMax``: commands over SSH run inside it, so the ``ssh`` host's memory is the
  cgroup's and ``sshd_memory_nearly_full`` can fill it for real without touching the
  machine's RAM budget. Best effort: where no memory cgroup can be created the sshd runs
  without one (and that fault reports it cannot be injected).

All state needed later (``down`` after a crash, faults from the CLI) is in ``sb.state["host"]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import psutil

from opsverify.sandbox import aptroot
from opsverify.sandbox.base import Component, Fault, Sandbox, wait_port

SSH_ALIAS = "sandbox-ssh"
SERVICE_USER = "root"
DATA_SIZE = "64m"
#: ``min_free`` of the data mount (RES-008): a byte minimum the 80/90 % checks cannot see.
DATA_MIN_FREE = "24m"
#: The model checkpoint file (RES-005 ``required_files``) and its declared minimum size.
MODEL_BYTES = 256 * 1024
MODEL_MIN_SIZE = "128k"
#: Lines of the healthy app log: modest (tens of kB), with a couple of old failed logins,
#: far below any burst threshold.
LOG_LINES = 300
FAILED_LOGIN_BURST = 50
HUGE_LOG_BYTES = 150 * 1024 * 1024
#: ``data_mount_nearly_full`` fills the tmpfs to this share of its size.
FULL_PCT = 95
#: Memory limit of the sshd's cgroup (sessions need a few MiB each; the fault fills 90 %).
SSHD_MEMORY_LIMIT = 256 * 2**20
MEMORY_FILL_PCT = 90
#: ``sun_path`` is 108 bytes; ssh adds a 17-char random suffix while it creates the socket.
MAX_CONTROL_DIR_LEN = 60
CMD_TIMEOUT_S = 20


def _log(msg: str) -> None:
    print(f"opsverify sandbox: {' '.join(msg.split())}", file=sys.stderr, flush=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(argv: list[str], timeout: float = CMD_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run a short command, raising with its stderr if it fails."""
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mounted(path: str | Path) -> bool:
    """Whether ``path`` is a mount point right now (read from /proc/mounts)."""
    target = str(path)
    with open("/proc/mounts", encoding="utf-8") as f:
        return any(
            len(fields) > 1 and _unescape(fields[1]) == target
            for fields in (line.split() for line in f)
        )


def _paths(sb: Sandbox) -> dict[str, str]:
    """Where everything lives. The ControlPath dir moves to /tmp if the state dir is long."""
    base = sb.path("host")
    ssh = base / "ssh"
    control = ssh / "cm"
    if len(str(control)) > MAX_CONTROL_DIR_LEN:
        digest = hashlib.sha256(str(sb.state_dir.resolve()).encode()).hexdigest()[:10]
        control = Path("/tmp") / f"opsverify-ssh-{digest}"
    return {
        "base": str(base),
        "env_file": str(base / "app.env"),
        "log_dir": str(base / "log"),
        "app_log": str(base / "log" / "app.log"),
        "huge_log": str(base / "log" / "app-debug.log"),
        "data": str(base / "data"),
        "fill": str(base / "data" / ".fill"),
        "faults": str(base / "faults"),
        "model_file": str(base / "models" / "checkpoint_epoch_9.pth.tar"),
        "apt_root": str(base / "aptroot"),
        "ssh_dir": str(ssh),
        "sshd_config": str(ssh / "sshd_config"),
        "sshd_log": str(ssh / "sshd.log"),
        "sshd_pid": str(ssh / "sshd.pid"),
        "host_key": str(ssh / "ssh_host_ed25519_key"),
        "client_key": str(ssh / "id_ed25519"),
        "authorized_keys": str(ssh / "authorized_keys"),
        "ssh_config": str(ssh / "ssh_config"),
        "control_dir": str(control),
    }


def _p(sb: Sandbox) -> dict[str, str]:
    return dict(sb.state["host"]["paths"])


# --- env file ------------------------------------------------------------------------------------
def _env_content(p: dict[str, str]) -> str:
    return "\n".join(
        [
            "# opsverify sandbox application settings",
            f"# service user: {SERVICE_USER} (owner of this file); mode 0600",
            "APP_ENV=production",
            "DEBUG=false",
            f"SECRET_KEY={token_urlsafe(36)}",
            f"JWT_SECRET={token_urlsafe(36)}",
            f"DB_PASSWORD={token_urlsafe(32)}",
            f"REDIS_PASSWORD={token_urlsafe(32)}",
            "ENABLE_DEMO_DATA=false",
            f"LOG_DIR={p['log_dir']}",
            f"DATA_DIR={p['data']}",
            "",
        ]
    )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a root-owned 0600 file without a window where it is readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    os.chown(path, 0, 0)


def _set_env_var(path: Path, key: str, value: str) -> str:
    """Set ``key=value`` in an env file (keeping mode and order); return the old value."""
    lines = path.read_text().splitlines()
    old = ""
    for i, line in enumerate(lines):
        if line.startswith(f"{key}="):
            old = line.split("=", 1)[1]
            lines[i] = f"{key}={value}"
            break
    else:
        lines.append(f"{key}={value}")
    mode = path.stat().st_mode & 0o777
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, mode)
    tmp.replace(path)
    return old


# --- log -----------------------------------------------------------------------------------------
def _app_log(now: datetime) -> str:
    """A day of ordinary application log: requests, a few warnings, two old failed logins."""
    out: list[str] = []
    start = now - timedelta(hours=24)
    step = timedelta(hours=24) / LOG_LINES
    paths = ["/api/studies", "/api/health", "/api/studies/42", "/api/upload", "/api/user"]
    for i in range(LOG_LINES):
        t = _iso(start + step * i)
        if i in (LOG_LINES // 3, LOG_LINES // 3 + 1):
            out.append(f"{t} WARNING failed login for user=alice from ip=127.0.0.1")
        elif i % 50 == 7:
            out.append(f"{t} WARNING slow request path=/api/studies duration_ms=812")
        else:
            path = paths[i % len(paths)]
            out.append(
                f"{t} INFO request method=GET path={path} status=200 duration_ms={12 + i % 30}"
            )
    return "\n".join(out) + "\n"


# --- faults --------------------------------------------------------------------------------------
def _fault_file(sb: Sandbox, name: str) -> Path:
    d = Path(_p(sb)["faults"])
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d / name


def _inject_world_readable(sb: Sandbox) -> None:
    env = Path(_p(sb)["env_file"])
    saved = _fault_file(sb, "env_file_world_readable.SECRET_KEY")
    old = _set_env_var(env, "SECRET_KEY", "changeme")
    if old != "changeme":  # injecting twice must not save the default as the "original"
        _write_private(saved, old)
    os.chmod(env, 0o644)


def _revert_world_readable(sb: Sandbox) -> None:
    env = Path(_p(sb)["env_file"])
    saved = _fault_file(sb, "env_file_world_readable.SECRET_KEY")
    value = saved.read_text() if saved.exists() else token_urlsafe(36)
    os.chmod(env, 0o600)
    _set_env_var(env, "SECRET_KEY", value)
    saved.unlink(missing_ok=True)


def _inject_demo(sb: Sandbox) -> None:
    _set_env_var(Path(_p(sb)["env_file"]), "ENABLE_DEMO_DATA", "true")


def _revert_demo(sb: Sandbox) -> None:
    _set_env_var(Path(_p(sb)["env_file"]), "ENABLE_DEMO_DATA", "false")


def _inject_nearly_full(sb: Sandbox) -> None:
    """Fill the tmpfs with real (allocated) blocks until FULL_PCT of it is used."""
    p = _p(sb)
    fill = Path(p["fill"])
    fill.unlink(missing_ok=True)
    st = os.statvfs(p["data"])
    total = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    need = int(total * FULL_PCT / 100) - used
    if need <= 0:
        return
    fd = os.open(fill, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, need)
    finally:
        os.close(fd)


def _revert_nearly_full(sb: Sandbox) -> None:
    Path(_p(sb)["fill"]).unlink(missing_ok=True)


def _inject_huge_log(sb: Sandbox) -> None:
    """A log file whose apparent size is 150 MiB (sparse: the size a log check reads)."""
    path = Path(_p(sb)["huge_log"])
    with open(path, "w") as f:
        f.write(f"{_iso(_now())} DEBUG verbose logging enabled, never rotated\n")
    os.truncate(path, HUGE_LOG_BYTES)


def _revert_huge_log(sb: Sandbox) -> None:
    Path(_p(sb)["huge_log"]).unlink(missing_ok=True)


def _inject_login_burst(sb: Sandbox) -> None:
    log = Path(_p(sb)["app_log"])
    mark = _fault_file(sb, "failed_login_burst.offset")
    if not mark.exists():
        mark.write_text(str(log.stat().st_size))
    t = _iso(_now())
    with open(log, "a") as f:
        for _ in range(FAILED_LOGIN_BURST):
            f.write(f"{t} WARNING failed login for user=admin from ip=127.0.0.1\n")


def _revert_login_burst(sb: Sandbox) -> None:
    """Cut the log back to where it ended before the burst."""
    mark = _fault_file(sb, "failed_login_burst.offset")
    if mark.exists():
        os.truncate(_p(sb)["app_log"], int(mark.read_text()))
        mark.unlink()


def _make_memory_cgroup(sb: Sandbox) -> str | None:
    """A child of this process's memory cgroup with ``SSHD_MEMORY_LIMIT``; None if the
    kernel or the permissions do not allow one (cgroup v1 and v2)."""
    from opsverify.probes.hosts import cgroup_memory_dir

    try:
        found = cgroup_memory_dir(
            Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text()
        )
        if not found:
            return None
        parent, version = found
        digest = hashlib.sha256(str(sb.state_dir.resolve()).encode()).hexdigest()[:10]
        cg = Path(parent) / f"opsverify-sshd-{digest}"
        if version == 2:
            Path(parent, "cgroup.subtree_control").write_text("+memory")
        cg.mkdir(exist_ok=True)
        limit_file = "memory.max" if version == 2 else "memory.limit_in_bytes"
        (cg / limit_file).write_text(str(SSHD_MEMORY_LIMIT))
        return str(cg)
    except OSError as exc:
        _log(f"no memory cgroup for sshd ({exc}); the ssh host is measured by /proc/meminfo")
        return None


def _remove_memory_cgroup(cg: str | None) -> None:
    if not cg or not Path(cg).exists():
        return
    for _ in range(20):  # the sshd's children leave the cgroup a moment after it stops
        try:
            Path(cg).rmdir()
            return
        except OSError:
            time.sleep(0.1)
    _log(f"could not remove the sshd memory cgroup {cg}")


def _memory_fill_file(sb: Sandbox) -> Path:
    """A /dev/shm file (tmpfs pages are charged to the cgroup of the process writing them)."""
    digest = hashlib.sha256(str(sb.state_dir.resolve()).encode()).hexdigest()[:10]
    return Path("/dev/shm") / f"opsverify-memfill-{digest}"


def _inject_memory_full(sb: Sandbox) -> None:
    """Write a /dev/shm file from a command over SSH, i.e. inside the sshd's cgroup, until
    MEMORY_FILL_PCT of its limit is used (tmpfs cannot be reclaimed: the usage is real)."""
    cg = sb.state["host"].get("memory_cgroup")
    if not cg:
        raise RuntimeError("the sshd runs without a memory cgroup here: cannot fill it")
    fill = _memory_fill_file(sb)
    fill.unlink(missing_ok=True)
    v2 = Path(cg, "memory.current").exists()
    usage = int(Path(cg, "memory.current" if v2 else "memory.usage_in_bytes").read_text())
    need = int(SSHD_MEMORY_LIMIT * MEMORY_FILL_PCT / 100) - usage
    if need <= 0:
        return
    p = _p(sb)
    _run(["ssh", "-F", p["ssh_config"], SSH_ALIAS,
          f"head -c {need} /dev/zero > {fill} && chmod 600 {fill}"], timeout=30)


def _revert_memory_full(sb: Sandbox) -> None:
    _memory_fill_file(sb).unlink(missing_ok=True)


# --- component -----------------------------------------------------------------------------------
class HostComponent(Component):
    """Env file, log dir, a tmpfs data mount and a loopback sshd, reachable via testinfra."""

    name = "host"

    def up(self, sb: Sandbox) -> None:
        t0 = time.monotonic()
        previous = sb.state.get("host", {}).get("paths")
        if previous:  # an earlier up of this sandbox: its sshd would hold the port
            self._close_masters(previous)
            sb.stop_processes(self.name, timeout=5)
        p = _paths(sb)
        st: dict[str, Any] = {"paths": p, "service_user": SERVICE_USER, "timings": {}}
        sb.state["host"] = st
        sb.save()
        base = Path(p["base"])
        base.mkdir(parents=True, exist_ok=True)
        sb.path("logs").mkdir(parents=True, exist_ok=True)

        _write_private(Path(p["env_file"]), _env_content(p))
        Path(p["log_dir"]).mkdir(parents=True, exist_ok=True)
        Path(p["app_log"]).write_text(_app_log(_now()))
        for stale in (p["huge_log"],):
            Path(stale).unlink(missing_ok=True)
        shutil.rmtree(p["faults"], ignore_errors=True)

        data = Path(p["data"])
        data.mkdir(parents=True, exist_ok=True)
        if not is_mounted(data):
            _run(
                [
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    f"size={DATA_SIZE},mode=0755,nosuid,nodev",
                    "opsverify-data",
                    str(data),
                ]
            )
        st["mounted"] = True
        sb.save()
        Path(p["fill"]).unlink(missing_ok=True)
        (data / "uploads").mkdir(exist_ok=True)
        (data / "uploads" / "study-0001.dcm").write_bytes(os.urandom(64 * 1024))
        # the ML model checkpoint of runbook 003 (required_files, with a minimum size)
        Path(p["model_file"]).parent.mkdir(parents=True, exist_ok=True)
        Path(p["model_file"]).write_bytes(os.urandom(MODEL_BYTES))
        has_apt = aptroot.build(Path(p["apt_root"]))  # own dpkg status + local repo (SEC-031)

        t1 = time.monotonic()
        self._start_sshd(sb, p)
        st["timings"]["sshd_s"] = round(time.monotonic() - t1, 3)

        port = sb.port("host_ssh")
        q = urllib.parse.urlencode(
            {"ssh_config": p["ssh_config"], "ssh_identity_file": p["client_key"]},
            safe="/",
        )
        common = {"mounts": [p["data"]], "env_files": [p["env_file"]], "log_dirs": [p["log_dir"]],
                  "min_free": {p["data"]: DATA_MIN_FREE},
                  "required_files": [{"path": p["model_file"], "min_size": MODEL_MIN_SIZE}],
                  **({"security_updates": {"root": p["apt_root"]}} if has_apt else {})}
        sb.inventory_section(
            "hosts",
            [
                {"name": "local", "target": "local://", **common},
                {"name": "ssh", "target": f"ssh://root@127.0.0.1:{port}?{q}", **common},
            ],
        )
        st["timings"]["up_s"] = round(time.monotonic() - t0, 3)
        sb.save()

    def down(self, sb: Sandbox) -> None:
        t0 = time.monotonic()
        st = sb.state.get("host", {})
        p = st.get("paths")
        if p:
            self._close_masters(p)
        sb.stop_processes(self.name, timeout=5)
        if p:
            _revert_memory_full(sb)
            _remove_memory_cgroup(st.get("memory_cgroup"))
            data = Path(p["data"])
            if is_mounted(data):
                res = subprocess.run(
                    ["umount", str(data)], capture_output=True, timeout=10, check=False
                )
                if res.returncode != 0:  # busy (a shell cd'ed there): detach it anyway
                    subprocess.run(["umount", "-l", str(data)], timeout=10, check=False)
            if is_mounted(data):
                _log(f"{data} is still mounted after host down")
            if p["control_dir"].startswith("/tmp/opsverify-ssh-"):
                shutil.rmtree(p["control_dir"], ignore_errors=True)
            Path(p["sshd_pid"]).unlink(missing_ok=True)
        st["mounted"] = False
        st.setdefault("timings", {})["down_s"] = round(time.monotonic() - t0, 3)
        sb.state["host"] = st
        sb.save()

    def faults(self) -> list[Fault]:
        return [
            Fault(
                "env_file_world_readable",
                "security",
                "the env file is mode 0644 and SECRET_KEY has the default value 'changeme'",
                _inject_world_readable,
                _revert_world_readable,
            ),
            Fault(
                "demo_data_enabled",
                "security",
                "ENABLE_DEMO_DATA=true in the env file",
                _inject_demo,
                _revert_demo,
            ),
            Fault(
                "data_mount_nearly_full",
                "resources",
                f"the data mount (tmpfs, {DATA_SIZE}) is filled to {FULL_PCT}%",
                _inject_nearly_full,
                _revert_nearly_full,
            ),
            Fault(
                "huge_log_file",
                "resources",
                f"a {HUGE_LOG_BYTES // 2**20} MiB (apparent size, sparse) file in the log dir",
                _inject_huge_log,
                _revert_huge_log,
            ),
            Fault(
                "sshd_memory_nearly_full",
                "resources",
                f"a /dev/shm file written over SSH fills the sshd's memory cgroup "
                f"({SSHD_MEMORY_LIMIT // 2**20} MiB limit) to {MEMORY_FILL_PCT}%",
                _inject_memory_full,
                _revert_memory_full,
            ),
            Fault(
                "failed_login_burst",
                "security",
                f"{FAILED_LOGIN_BURST} failed logins for user=admin, timestamped now, in app.log",
                _inject_login_burst,
                _revert_login_burst,
            ),
        ]

    # --- sshd ------------------------------------------------------------------------------------
    def _start_sshd(self, sb: Sandbox, p: dict[str, str]) -> None:
        """Generate keys and configs, start sshd in the foreground (-D) and prove a login."""
        ssh_dir = Path(p["ssh_dir"])
        ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        Path(p["control_dir"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True, mode=0o755)  # privsep chroot
        for key in (p["host_key"], p["client_key"]):
            if not Path(key).exists():
                _run(
                    [
                        "ssh-keygen",
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "opsverify-sandbox",
                        "-f",
                        key,
                    ]
                )
        Path(p["authorized_keys"]).write_text(Path(p["client_key"] + ".pub").read_text())
        port = sb.port("host_ssh")
        Path(p["sshd_config"]).write_text(
            "\n".join(
                [
                    f"ListenAddress 127.0.0.1:{port}",
                    f"HostKey {p['host_key']}",
                    f"PidFile {p['sshd_pid']}",
                    f"AuthorizedKeysFile {p['authorized_keys']}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "AllowUsers root",
                    # checks run in parallel (xdist): allow many sessions per multiplexed
                    # connection and many connections starting at once
                    "MaxSessions 64",
                    "MaxStartups 64:30:128",
                    "Subsystem sftp internal-sftp",
                    "LogLevel INFO",
                    "",
                ]
            )
        )
        _run(["/usr/sbin/sshd", "-t", "-f", p["sshd_config"]])
        Path(p["ssh_config"]).write_text(
            "\n".join(
                [
                    f"Host {SSH_ALIAS} 127.0.0.1",
                    "  HostName 127.0.0.1",
                    f"  Port {port}",
                    "  User root",
                    f"  IdentityFile {p['client_key']}",
                    "  IdentitiesOnly yes",
                    "  BatchMode yes",
                    "  PasswordAuthentication no",
                    "  StrictHostKeyChecking no",
                    "  UserKnownHostsFile /dev/null",
                    "  LogLevel ERROR",
                    "  ControlMaster auto",
                    f"  ControlPath {p['control_dir']}/%r@%h:%p",
                    "  ControlPersist 60s",
                    "  ConnectTimeout 10",
                    "",
                ]
            )
        )
        argv = ["/usr/sbin/sshd", "-D", "-f", p["sshd_config"], "-E", p["sshd_log"]]
        cg = _make_memory_cgroup(sb)
        sb.state["host"]["memory_cgroup"] = cg
        sb.save()
        if cg:  # join the cgroup first, then exec: no window where sshd is outside it
            argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, *argv]
        sb.spawn(self.name, argv, log="sshd.out")
        wait_port(port, timeout=15)
        _run(["ssh", "-F", p["ssh_config"], SSH_ALIAS, "true"], timeout=20)

    @staticmethod
    def _close_masters(p: dict[str, str]) -> None:
        """End ssh ControlMaster processes of this sandbox (ControlPersist keeps them 60 s).

        ``ssh -O exit`` asks the master politely; any master left (another user/host spec
        through the same dir) is found by its control socket path in its title and killed.
        """
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                ["ssh", "-F", p["ssh_config"], "-O", "exit", SSH_ALIAS],
                capture_output=True,
                timeout=5,
                check=False,
            )
        marker = p["control_dir"].rstrip("/") + "/"
        victims = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(proc.info["cmdline"] or []) and proc.pid != os.getpid():
                    victims.append(proc)
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        psutil.wait_procs(victims, timeout=3)
