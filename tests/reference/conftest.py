"""Shared fixtures of the reference-system self-tests: the catalog and what each example collects.

Both come from running opsverify the way users do, in subprocesses: ``pytest --catalog DIR``
and ``pytest --inventory environments/example-<system>.yml --collect-only``. Collection only
validates the inventory and derives the targets; no check runs and nothing is contacted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.reference.examples import ROOT, SYSTEMS, dummy_environ, example_path

_NODE_RE = re.compile(r"^checks/(?P<path>\S+)\.py::(?P<function>\w+)\[(?P<param>.*)\]$")


def _pytest(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("OPSVERIFY_ENV", None)
    return subprocess.Popen([sys.executable, "-m", "pytest", *args, "-q", "-p", "no:randomly",
                             "--no-reports"], cwd=ROOT, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The check catalog, exported by the real command (``pytest --catalog DIR``)."""
    out = tmp_path_factory.mktemp("catalog")
    proc = _pytest(["--catalog", str(out)])
    stdout, stderr = proc.communicate(timeout=180)
    js = out / "catalog.json"
    assert proc.returncode == 0 and js.exists(), (
        f"catalog export failed (exit {proc.returncode}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return json.loads(js.read_text())


@pytest.fixture(scope="session")
def catalog_ids(catalog: list[dict[str, Any]]) -> set[str]:
    return {c["id"] for c in catalog}


@pytest.fixture(scope="session")
def applicable(catalog: list[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """system -> check id -> the targets it has for that example (collection only).

    A check whose section the example does not declare collects one ``[not-declared]`` item
    and therefore has no target here.
    """
    by_function = {(c["module"], c["function"]): c["id"] for c in catalog}
    procs = {s: _pytest(["--inventory", str(example_path(s)), "--collect-only"],
                        dummy_environ(example_path(s))) for s in SYSTEMS}
    result: dict[str, dict[str, set[str]]] = {}
    for system, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, (
            f"collecting the checks for example-{system}.yml failed (exit {proc.returncode}):"
            f"\n{stdout[-3000:]}\n{stderr[-2000:]}")
        targets: dict[str, set[str]] = {}
        for line in stdout.splitlines():
            m = _NODE_RE.match(line.strip())
            if not m or m.group("param") == "not-declared":
                continue
            module = "checks." + m.group("path").replace("/", ".")
            check_id = by_function.get((module, m.group("function")))
            if check_id:
                targets.setdefault(check_id, set()).add(m.group("param"))
        result[system] = targets
    return result
