"""Resources faults (disk full and huge logs are the host component's; this adds inodes).

``data_mount_inodes_exhausted``: the data tmpfs is remounted with a small inode limit and
filled with empty files until 97 % of its inodes are used, while almost no space is used -
the situation a plain ``df -h`` misses. Revert removes the files and restores the original
limit (recorded in the state, so a revert from another process works).

``env_file_missing``: the env file is moved aside (same directory, so the move is a rename
and keeps owner, mode and content); revert moves it back. The state holds nothing: the
aside file itself is the record, so a revert from another process works.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from opsverify.sandbox.base import Fault, Sandbox, SandboxError, run

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


FAULTS: list[Fault] = [
    Fault("data_mount_inodes_exhausted", "resources",
          f"the data mount is limited to {INODE_LIMIT} inodes and {FILL_PCT}% of them are used",
          _inject_inodes, _revert_inodes),
    Fault("env_file_missing", "resources",
          "the env file is moved away (renamed with a .moved-away suffix)",
          _inject_env_missing, _revert_env_missing),
]
