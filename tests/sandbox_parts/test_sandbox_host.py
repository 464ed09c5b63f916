"""Self-tests of the sandbox's host component: env file, logs, tmpfs mount and sshd.

Observations go through testinfra, over ``ssh://`` as the host checks will, so a fault
counts only if it is visible from the remote side too.
Run: ``.venv/bin/pytest tests/sandbox_parts -p no:opsverify``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import testinfra

from opsverify.sandbox.base import Sandbox
from opsverify.sandbox.host import SSH_ALIAS, HostComponent, is_mounted

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mount and sshd need root"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server missing"),
    pytest.mark.skipif(shutil.which("ssh") is None, reason="ssh client missing"),
]

Host = Any  # testinfra.host.Host (untyped)


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_dir = tmp_path_factory.mktemp("host") / "state"
    (state_dir / "logs").mkdir(parents=True)
    sandbox = Sandbox(state_dir=state_dir)
    comp = HostComponent()
    t0 = time.monotonic()
    comp.up(sandbox)
    print(f"\nhost up {time.monotonic() - t0:.2f}s timings={sandbox.state['host']['timings']}")
    yield sandbox
    comp.down(sandbox)


def items(sb: Sandbox) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in sb.state["inventory"]["hosts"]}


@pytest.fixture(scope="module")
def ssh(sb: Sandbox) -> Host:
    """The ``ssh`` inventory item's target, exactly as a check would open it."""
    return testinfra.get_host(items(sb)["ssh"]["target"])


def paths(sb: Sandbox) -> dict[str, str]:
    return dict(sb.state["host"]["paths"])


def df_used_pct(host: Host, mount: str) -> int:
    """Use% of ``mount`` from ``df -Pk`` (testinfra has no disk-usage module)."""
    line = host.check_output("df -Pk %s", mount).splitlines()[-1]
    return int(line.split()[4].rstrip("%"))


def env_vars(host: Host, path: str) -> dict[str, str]:
    text = host.file(path).content_string
    return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and ln[0] != "#")


def test_inventory_section(sb: Sandbox) -> None:
    p = paths(sb)
    hosts = sb.state["inventory"]["hosts"]
    assert [h["name"] for h in hosts] == ["local", "ssh"]
    for h in hosts:
        assert set(h) == {"name", "target", "mounts", "env_files", "log_dirs", "min_free",
                          "required_files", "security_updates"}
        assert h["mounts"] == [p["data"]]
        assert h["env_files"] == [p["env_file"]]
        assert h["log_dirs"] == [p["log_dir"]]
    assert hosts[0]["target"] == "local://"
    port = sb.port("host_ssh")
    assert hosts[1]["target"].startswith(f"ssh://root@127.0.0.1:{port}?ssh_config=")
    assert sb.state["host"]["service_user"] == "root"


@pytest.mark.parametrize("name", ["local", "ssh"])
def test_material_is_real_through_both_backends(sb: Sandbox, name: str) -> None:
    host = testinfra.get_host(items(sb)[name]["target"])
    p = paths(sb)
    env = host.file(p["env_file"])
    assert env.mode == 0o600 and env.user == "root" and env.group == "root"
    values = env_vars(host, p["env_file"])
    for key in ("SECRET_KEY", "JWT_SECRET", "DB_PASSWORD"):
        assert len(values[key]) >= 32
    assert values["ENABLE_DEMO_DATA"] == "false"
    assert host.file(p["log_dir"]).is_directory
    assert 1_000 < host.file(p["app_log"]).size < 1_000_000
    mount = host.mount_point(p["data"])
    assert mount.exists and mount.filesystem == "tmpfs"
    assert df_used_pct(host, p["data"]) < 10
    assert host.user().name == "root"


def test_data_mount_is_a_64m_tmpfs(sb: Sandbox) -> None:
    data = paths(sb)["data"]
    assert is_mounted(data)
    st = os.statvfs(data)
    assert st.f_blocks * st.f_frsize == 64 * 2**20


def test_ssh_alias_with_ssh_config_and_multiplexing(sb: Sandbox) -> None:
    """``ssh://sandbox-ssh`` plus ``ssh_config=`` works, and commands reuse one connection."""
    p = paths(sb)
    host = testinfra.get_host(f"ssh://{SSH_ALIAS}", ssh_config=p["ssh_config"])
    host.check_output("df -Pk")
    t0 = time.monotonic()
    for _ in range(5):
        assert "Filesystem" in host.check_output("df -Pk")
    per_cmd = (time.monotonic() - t0) / 5
    print(f"\nssh per command {per_cmd * 1000:.0f} ms")
    assert per_cmd < 0.4  # un-multiplexed ssh takes ~600 ms here
    assert any(Path(p["control_dir"]).iterdir())  # the ControlMaster socket


def test_sshd_refuses_password_logins(sb: Sandbox) -> None:
    cfg = Path(paths(sb)["sshd_config"]).read_text()
    assert "PermitRootLogin prohibit-password" in cfg
    assert "PasswordAuthentication no" in cfg
    assert f"ListenAddress 127.0.0.1:{sb.port('host_ssh')}" in cfg


def _obs_world_readable(host: Host, p: dict[str, str]) -> None:
    assert host.file(p["env_file"]).mode == 0o644
    assert env_vars(host, p["env_file"])["SECRET_KEY"] == "changeme"


def _obs_demo(host: Host, p: dict[str, str]) -> None:
    assert env_vars(host, p["env_file"])["ENABLE_DEMO_DATA"] == "true"


def _obs_nearly_full(host: Host, p: dict[str, str]) -> None:
    assert df_used_pct(host, p["data"]) >= 93


def _obs_huge_log(host: Host, p: dict[str, str]) -> None:
    sizes = [int(s) for s in host.check_output("stat -c %%s %s/*", p["log_dir"]).split()]
    assert max(sizes) > 100 * 2**20


def _obs_memory_full(host: Host, p: dict[str, str]) -> None:
    """Commands over SSH run in the sshd's memory cgroup, which the fault filled for real."""
    from opsverify.probes.hosts import memory_usage

    mem = memory_usage(host, target="ssh")
    assert mem.source.startswith("cgroup") and mem.used_pct >= 85, mem


def _obs_login_burst(host: Host, p: dict[str, str]) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:")
    text = host.file(p["app_log"]).content_string
    burst = re.findall(rf"^{today}\d\d:\d\dZ WARNING failed login for user=admin", text, re.M)
    assert len(burst) >= 50


OBSERVE: dict[str, Callable[[Host, dict[str, str]], None]] = {
    "env_file_world_readable": _obs_world_readable,
    "demo_data_enabled": _obs_demo,
    "data_mount_nearly_full": _obs_nearly_full,
    "huge_log_file": _obs_huge_log,
    "failed_login_burst": _obs_login_burst,
    "sshd_memory_nearly_full": _obs_memory_full,
}


def test_fault_catalog() -> None:
    faults = {f.name: f.area for f in HostComponent().faults()}
    assert set(faults) == set(OBSERVE)
    assert faults["data_mount_nearly_full"] == faults["huge_log_file"] == "resources"
    assert faults["env_file_world_readable"] == faults["demo_data_enabled"] == "security"
    assert faults["failed_login_burst"] == "security"
    assert faults["sshd_memory_nearly_full"] == "resources"


@pytest.mark.parametrize("name", list(OBSERVE))
def test_fault_inject_and_revert(name: str, sb: Sandbox, ssh: Host) -> None:
    p = paths(sb)
    before_env = Path(p["env_file"]).read_text()
    before_log = Path(p["app_log"]).read_text()
    fault = next(f for f in HostComponent().faults() if f.name == name)
    fault.inject(sb)
    try:
        OBSERVE[name](ssh, p)
    finally:
        fault.revert(sb)
    # revert restores the healthy material exactly
    assert Path(p["env_file"]).read_text() == before_env
    assert stat.S_IMODE(os.stat(p["env_file"]).st_mode) == 0o600
    assert Path(p["app_log"]).read_text() == before_log
    assert sorted(os.listdir(p["log_dir"])) == ["app.log"]
    assert df_used_pct(ssh, p["data"]) < 10


def test_faults_combine_and_revert_independently(sb: Sandbox) -> None:
    """Two env-file faults at once revert in any order to the original file."""
    p = paths(sb)
    before = Path(p["env_file"]).read_text()
    faults = {f.name: f for f in HostComponent().faults()}
    faults["env_file_world_readable"].inject(sb)
    faults["demo_data_enabled"].inject(sb)
    faults["env_file_world_readable"].revert(sb)
    assert "ENABLE_DEMO_DATA=true" in Path(p["env_file"]).read_text()
    faults["demo_data_enabled"].revert(sb)
    assert Path(p["env_file"]).read_text() == before


def _our_processes(sb: Sandbox) -> list[psutil.Process]:
    p = paths(sb)
    markers = (p["sshd_config"], p["control_dir"].rstrip("/") + "/")
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if any(m in cmd for m in markers):
            found.append(proc)
    return found


def test_down_leaves_nothing(sb: Sandbox, ssh: Host) -> None:
    ssh.check_output("true")  # make sure a ControlMaster exists to be cleaned up
    assert _our_processes(sb)
    t0 = time.monotonic()
    HostComponent().down(sb)
    elapsed = time.monotonic() - t0
    print(f"\nhost down {elapsed:.2f}s")
    assert elapsed < 5
    assert not _our_processes(sb)
    assert not is_mounted(paths(sb)["data"])
