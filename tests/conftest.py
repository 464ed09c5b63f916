"""Shared self-test fixtures. ``sandbox``: one real sandbox per test session.

The fault matrix and the sandbox self-tests share it: started once (about 7 s), torn down in
the finalizer even when tests fail. Its state directory is a fresh directory under /tmp (the
service users postgres and redis must traverse it, which pytest's 0700 tmp dirs forbid), and
its inventory is written inside that directory, never over ``environments/sandbox.yml``.

Environment: ``OPSVERIFY_SANDBOX_SKIP=docker,host`` leaves components out;
``OPSVERIFY_KEEP_SANDBOX=1`` keeps the state directory (logs) after the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsverify.sandbox import Sandbox, SandboxError, down, up


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox; ``sandbox.state["inventory_path"]`` is its inventory file."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (services run as postgres/redis users)")
    state_dir = Path(tempfile.mkdtemp(prefix="opsverify-sandbox-", dir="/tmp"))
    state_dir.chmod(0o755)
    inventory = state_dir / "environments" / "sandbox.yml"
    try:
        sb = up(state_dir, inventory)
    except SandboxError as exc:
        down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        pytest.fail(f"sandbox did not start: {exc}", pytrace=False)
    try:
        yield sb
    finally:
        problems = down(state_dir)
        if not os.environ.get("OPSVERIFY_KEEP_SANDBOX"):
            shutil.rmtree(state_dir, ignore_errors=True)
        if problems:
            print(f"sandbox down reported: {problems}")
