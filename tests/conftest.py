"""Shared self-test fixtures. ``sandbox``: one real sandbox per test session.

The fault matrix and the sandbox self-tests share it: started once (about 7 s), torn down in
the finalizer even when tests fail. Its state directory is a fresh directory under /tmp (the
service users postgres and redis must traverse it, which pytest's 0700 tmp dirs forbid), and
its inventory is written inside that directory, never over ``environments/sandbox.yml``.

Environment: ``OPSVERIFY_SANDBOX_SKIP=docker,host`` leaves components out;
``OPSVERIFY_KEEP_SANDBOX=1`` keeps the state directory (logs) after the session.

A session killed with SIGKILL cannot run its finalizer, so its sandbox keeps running. Each
state directory therefore records its owner (pid and process start time); the next session
takes down and removes every sandbox whose owner is gone before it starts its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from opsverify.sandbox import Sandbox, SandboxError, down, up

PREFIX = "opsverify-sandbox-"
OWNER_FILE = "owner.session"


def _owner_alive(state_dir: Path) -> bool:
    """Whether the session that made ``state_dir`` still runs (pid reuse included)."""
    try:
        pid, started = (state_dir / OWNER_FILE).read_text().split()
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 1.0
    except FileNotFoundError:
        return True  # not made by a self-test session (or made before owners were recorded)
    except (ValueError, psutil.Error, OSError):
        return False


def reap_orphans(root: Path = Path("/tmp")) -> list[Path]:
    """Take down and remove the sandboxes of self-test sessions that died without cleaning up."""
    reaped = []
    for state_dir in sorted(root.glob(PREFIX + "*")):
        if state_dir.is_dir() and not _owner_alive(state_dir):
            down(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)
            reaped.append(state_dir)
    return reaped


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox; ``sandbox.state["inventory_path"]`` is its inventory file."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (services run as postgres/redis users)")
    reap_orphans()
    state_dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/tmp"))
    state_dir.chmod(0o755)
    inventory = state_dir / "environments" / "sandbox.yml"
    try:
        sb = up(state_dir, inventory)
    except SandboxError as exc:
        down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        pytest.fail(f"sandbox did not start: {exc}", pytrace=False)
    me = psutil.Process()
    (state_dir / OWNER_FILE).write_text(f"{me.pid} {me.create_time()}\n")
    try:
        yield sb
    finally:
        problems = down(state_dir)
        if not os.environ.get("OPSVERIFY_KEEP_SANDBOX"):
            shutil.rmtree(state_dir, ignore_errors=True)
        if problems:
            print(f"sandbox down reported: {problems}")
