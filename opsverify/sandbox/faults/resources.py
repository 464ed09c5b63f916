"""Resources faults (disk full and huge logs are the host component's; these add inodes, a
missing env file, the disk warning tier and a CPU saturation).

``data_mount_inodes_exhausted``: the data tmpfs is remounted with a small inode limit and
filled with empty files until 97 % of its inodes are used, while almost no space is used -
the situation a plain ``df -h`` misses. Revert removes the files and restores the original
limit (recorded in the state, so a revert from another process works).

``env_file_missing``: the env file is moved aside (same directory, so the move is a rename
and keeps owner, mode and content); revert moves it back. The state holds nothing: the
aside file itself is the record, so a revert from another process works.

``disk_above_warning``: the data tmpfs is filled with allocated blocks to 85 % - above the
warning tier (80 %), below the fail tier (90 %): the same mechanism as the host component's
``data_mount_nearly_full`` (95 %), with its own fill file.

``cpu_saturated``: a real CPU saturation. Busy-loop shells are started until the kernel's
1-minute load average per CPU is clearly above the sandbox's ``load_per_core_max``. They are
made harmless: a cpu cgroup of their own with the lowest weight (cgroup v1 ``cpu.shares=2``,
v2 ``cpu.weight=1``) where one can be created, and ``nice 19`` always, so they only eat CPU
time nobody else wants - yet they are runnable, which is what the load average counts. Each
one also ends itself after ``BURN_MAX_S`` (bash's ``$SECONDS``), a last safety net. Their
PIDs are recorded in the state under ``pids.cpu_burners``, so a revert from another process
and ``sandbox down`` (which kills every recorded PID) remove them.

The 1-minute load is an exponential average sampled every 5 s (factor exp(-5/60)), so it
needs time both ways: inject starts enough burners to get above the target in about
``FAST_S`` seconds, then keeps only enough to hold the load there (so the load does not keep
climbing while the checks run, which would make the revert slow); revert kills them all and
waits (bounded) until the load has decayed below the limit again, so later checks of the same
run do not see it. Both durations are recorded in the state (``resources_faults``).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import sys
import time
from pathlib import Path

import psutil

from opsverify.inventory import Thresholds
from opsverify.sandbox.base import Fault, Sandbox, SandboxError, run, wait_procs_gone

FILL_DIR = ".inode-fill"
INODE_LIMIT = 400
FILL_PCT = 97


def _data(sb: Sandbox) -> Path:
    try:
        return Path(sb.state["host"]["paths"]["data"])
    except KeyError:
        raise SandboxError("the host component (data mount) is not running") from None


def _inject_inodes(sb: Sandbox) -> None:
    data = _data(sb)
    st = os.statvfs(data)
    rec = sb.state.setdefault("resources_faults", {})
    rec.setdefault("nr_inodes", st.f_files)  # keep the original across a repeated inject
    sb.save()
    used = st.f_files - st.f_ffree
    limit = max(INODE_LIMIT, used + 50)
    run(["mount", "-o", f"remount,nr_inodes={limit}", str(data)], timeout=10)
    fill = data / FILL_DIR
    fill.mkdir(exist_ok=True)
    st = os.statvfs(data)
    target_used = int(st.f_files * FILL_PCT / 100)
    for i in range(max(0, target_used - (st.f_files - st.f_ffree))):
        (fill / f"session-{i:05d}").touch()


def _revert_inodes(sb: Sandbox) -> None:
    data = _data(sb)
    shutil.rmtree(data / FILL_DIR, ignore_errors=True)
    original = sb.state.get("resources_faults", {}).get("nr_inodes")
    if original:
        run(["mount", "-o", f"remount,nr_inodes={int(original)}", str(data)], timeout=10)
        sb.state["resources_faults"].pop("nr_inodes", None)
        sb.save()


ASIDE_SUFFIX = ".moved-away"


def _env_file(sb: Sandbox) -> Path:
    try:
        return Path(sb.state["host"]["paths"]["env_file"])
    except KeyError:
        raise SandboxError("the host component (env file) is not running") from None


def _inject_env_missing(sb: Sandbox) -> None:
    env = _env_file(sb)
    aside = env.with_name(env.name + ASIDE_SUFFIX)
    if env.exists() and not aside.exists():
        env.rename(aside)


def _revert_env_missing(sb: Sandbox) -> None:
    env = _env_file(sb)
    aside = env.with_name(env.name + ASIDE_SUFFIX)
    if aside.exists() and not env.exists():
        aside.rename(env)


# --- disk above the warning tier ---------------------------------------------------------------
WARN_FILL = ".fill-warn"
WARN_FILL_PCT = 85


def _inject_disk_warning(sb: Sandbox) -> None:
    """Allocate real tmpfs blocks until WARN_FILL_PCT of the data mount is used."""
    data = _data(sb)
    fill = data / WARN_FILL
    fill.unlink(missing_ok=True)
    st = os.statvfs(data)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    need = int(st.f_blocks * st.f_frsize * WARN_FILL_PCT / 100) - used
    if need <= 0:
        return
    fd = os.open(fill, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, need)
    finally:
        os.close(fd)


def _revert_disk_warning(sb: Sandbox) -> None:
    (_data(sb) / WARN_FILL).unlink(missing_ok=True)


# --- CPU saturation ------------------------------------------------------------------------------
BURN_OWNER = "cpu_burners"
#: A burner ends itself after this long even if nothing kills it (a crashed test run).
BURN_MAX_S = 600
#: Inject waits until the 1-minute load per core is this many times the limit...
INJECT_MARGIN = 1.15
#: ... then keeps burners for this many times the limit (the load stays above the limit).
HOLD_MARGIN = 1.1
#: Revert waits until the load per core is below this many times the limit. The smaller the
#: gap to INJECT_MARGIN, the quicker the decay: 60 s x ln(1.15 / 0.98) = 10 s on an idle
#: machine (plus up to 5 s until the kernel's next sample).
REVERT_MARGIN = 0.98
#: Seconds inject aims to take (two of the kernel's 5 s samples); the hard bounds.
FAST_S = 10
INJECT_TIMEOUT_S = 40
REVERT_TIMEOUT_S = 30
#: About 0.4 MiB each (bash). 2 CPUs at the sandbox's limit need ~140 to get there in
#: FAST_S; with more CPUs the cap makes inject slower (8 CPUs: ~27 s), not riskier.
MAX_BURNERS = 256
#: One process per burner: bash's $SECONDS ends the loop without forking anything.
BURN_LOOP = f"while [ $SECONDS -lt {BURN_MAX_S} ]; do :; done"


def _warn(msg: str) -> None:
    print(f"opsverify sandbox: {msg}", file=sys.stderr, flush=True)


def load_1m() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def online_cpus() -> int:
    """Online CPUs, as ``getconf _NPROCESSORS_ONLN`` (what the check divides by)."""
    return max(1, int(os.sysconf("SC_NPROCESSORS_ONLN")))


def _load_limit(sb: Sandbox) -> float:
    """The ``load_per_core_max`` the sandbox wrote into its inventory: a profile's own
    thresholds, else the sandbox's; the runbook default where they set none."""
    from opsverify.sandbox import manager  # the manager imports this module lazily

    thresholds = (sb.state.get("profile") or {}).get("thresholds", manager.THRESHOLDS)
    return float(thresholds.get("load_per_core_max",
                                Thresholds.model_fields["load_per_core_max"].default))


def _cpu_cgroup_parent() -> tuple[Path, int] | None:
    """This process' cgroup directory of the cpu controller and the cgroup version."""
    own: dict[int, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            own.setdefault(2, parts[2])
        elif "cpu" in parts[1].split(","):
            own[1] = parts[2]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup" and "cpu" in tail[2].split(",") and 1 in own:
            version = 1
        elif tail[0] == "cgroup2" and 2 in own and 1 not in own:
            version = 2
        else:
            continue
        root, point, path = fields[3], fields[4], own[version]
        if path == root or path.startswith(root.rstrip("/") + "/"):
            rel = path[len(root.rstrip("/")):].strip("/")
            return Path(point, rel) if rel else Path(point), version
    return None


def _make_cpu_cgroup(sb: Sandbox) -> str | None:
    """A cpu cgroup with the lowest weight for the burners; None where none can be made
    (no writable cgroup fs, v2 without the cpu controller): nice 19 then has to do."""
    try:
        found = _cpu_cgroup_parent()
        if not found:
            return None
        parent, version = found
        digest = hashlib.sha256(str(sb.state_dir.resolve()).encode()).hexdigest()[:10]
        cg = parent / f"opsverify-cpuburn-{digest}"
        if version == 2:
            if "cpu" not in (parent / "cgroup.controllers").read_text().split():
                return None
            (parent / "cgroup.subtree_control").write_text("+cpu")
        cg.mkdir(exist_ok=True)
        if version == 2:
            (cg / "cpu.weight").write_text("1")
        else:
            (cg / "cpu.shares").write_text("2")
        return str(cg)
    except OSError as exc:
        _warn(f"no cpu cgroup for the CPU burners ({exc}); they run at nice 19 only")
        return None


def _remove_cpu_cgroup(cg: str | None) -> None:
    if not cg or not Path(cg).exists():
        return
    for _ in range(20):  # killed tasks leave the cgroup a moment after they exit
        try:
            Path(cg).rmdir()
            return
        except OSError:
            time.sleep(0.1)
    _warn(f"could not remove the CPU burners' cgroup {cg}")


def _spawn_burners(sb: Sandbox, count: int, cg: str | None) -> None:
    procs = f"{cg}/cgroup.procs" if cg else "/dev/null"
    # Join the cgroup first, then exec: the recorded PID is the burner's, never outside it.
    script = f'echo $$ > "$0" && exec nice -n 19 bash -c \'{BURN_LOOP}\''
    for _ in range(count):
        sb.spawn(BURN_OWNER, ["sh", "-c", script, procs], log="cpu_burners.log")


def _kill(pids: list[int]) -> None:
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            procs.extend([p, *p.children(recursive=True)])
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    wait_procs_gone(procs, 5)


def _kill_burners(sb: Sandbox, keep: int = 0) -> None:
    """Kill recorded burners, keeping the first ``keep``; the state is saved after."""
    pids = sb.state.setdefault("pids", {}).get(BURN_OWNER, [])
    victims = pids[keep:]
    if keep:
        sb.state["pids"][BURN_OWNER] = pids[:keep]
    else:
        sb.state["pids"].pop(BURN_OWNER, None)
    sb.save()
    _kill(victims)


def _inject_cpu(sb: Sandbox) -> None:
    if shutil.which("bash") is None:
        raise SandboxError("bash not found: the CPU burners are bash loops")
    limit, cpus = _load_limit(sb), online_cpus()
    target = limit * cpus * INJECT_MARGIN
    hold = math.ceil(limit * cpus * HOLD_MARGIN)
    start = load_1m()
    # Exponential average: load(t) = n + (start - n) * d with d = exp(-t/60); enough burners
    # to reach the target after FAST_S (plus one per CPU: other tasks come and go).
    d = math.exp(-FAST_S / 60)
    fast = min(MAX_BURNERS, max(hold, math.ceil((target - start * d) / (1 - d)) + cpus))
    rec = sb.state.setdefault("resources_faults", {})
    cg = _make_cpu_cgroup(sb)
    rec["cpu_cgroup"] = cg
    sb.save()
    t0 = time.monotonic()
    try:
        _spawn_burners(sb, fast, cg)
        deadline = t0 + INJECT_TIMEOUT_S
        while (now := load_1m()) < target:
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"1-minute load only {now:g} after {INJECT_TIMEOUT_S}s with {fast} busy "
                    f"loops (target {target:g} = {INJECT_MARGIN} x {limit:g} per core x "
                    f"{cpus} CPUs)")
            time.sleep(0.5)
        _kill_burners(sb, keep=hold)
    except BaseException:
        _kill_burners(sb)  # never leave burners behind, whatever interrupted the inject
        _remove_cpu_cgroup(cg)
        raise
    rec["cpu_saturated"] = {"burners_fast": fast, "burners_held": hold, "cpus": cpus,
                            "load_before": start, "load_after": now, "target": target,
                            "inject_s": round(time.monotonic() - t0, 1)}
    sb.save()


def _revert_cpu(sb: Sandbox) -> None:
    _kill_burners(sb)
    rec = sb.state.setdefault("resources_faults", {})
    _remove_cpu_cgroup(rec.pop("cpu_cgroup", None))
    sb.save()
    if sb.state.get("status") == "stopping":
        return  # ``sandbox down``: nothing runs checks after it, no need to wait for decay
    limit, cpus = _load_limit(sb), online_cpus()
    below = limit * cpus * REVERT_MARGIN
    t0 = time.monotonic()
    while (now := load_1m()) >= below:
        if time.monotonic() - t0 > REVERT_TIMEOUT_S:
            _warn(f"the 1-minute load is still {now:g} {REVERT_TIMEOUT_S}s after the CPU "
                  f"burners were killed (wanted below {below:g}): other work on this machine")
            break
        time.sleep(0.5)
    rec.setdefault("cpu_saturated", {})["revert_s"] = round(time.monotonic() - t0, 1)
    sb.save()


FAULTS: list[Fault] = [
    Fault("data_mount_inodes_exhausted", "resources",
          f"the data mount is limited to {INODE_LIMIT} inodes and {FILL_PCT}% of them are used",
          _inject_inodes, _revert_inodes),
    Fault("env_file_missing", "resources",
          "the env file is moved away (renamed with a .moved-away suffix)",
          _inject_env_missing, _revert_env_missing),
    Fault("disk_above_warning", "resources",
          f"the data mount (tmpfs) is filled to {WARN_FILL_PCT}%: above the warning tier, "
          "below the fail tier",
          _inject_disk_warning, _revert_disk_warning),
    Fault("cpu_saturated", "resources",
          "busy loops (own cpu cgroup at the lowest weight, nice 19) push the 1-minute load "
          f"per core to {INJECT_MARGIN} x the sandbox's load_per_core_max",
          _inject_cpu, _revert_cpu),
]
