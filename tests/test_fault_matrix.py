"""The fault matrix: every check is proven both ways against the real sandbox.

- Healthy: the whole catalog runs against the sandbox and nothing fails or breaks.
- For every row of ``tests/matrix``: inject the fault, run the checks of the areas involved,
  and assert that each expected check fails with its message fragment while no other check
  of those areas fails; the fault is reverted even when the assertion fails.
- Coverage: every check id in the catalog is caught by some row; a fault with no row fails
  once its area has checks, and is reported as pending before that.

The checks run in a child pytest session (exactly the operator's command line) that writes one
JSON record per result through ``--results-json``; a long-lived child (tests/matrix/server.py)
saves the interpreter start-up per fault.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsverify.sandbox import manager
from tests import machine
from tests.matrix import Row, all_rows
from tests.matrix.profiles import PROFILE_ROWS

ROOT = Path(__file__).resolve().parent.parent
ROWS = all_rows()
RUN_TIMEOUT_S = 300


class CheckRunner:
    """Runs the checks as an operator would (same command line), in a long-lived child."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.matrix.server"], cwd=ROOT, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        return self.proc

    def run(self, inventory: Path, out: Path, markexpr: str | None = None
            ) -> list[dict[str, Any]]:
        args = ["-p", "no:randomly", "-q", "--no-header", "--inventory", str(inventory),
                "--results-json", str(out), "--no-reports"]
        if markexpr:
            args += ["-m", markexpr]
        log = out.with_suffix(".log")
        with machine.check_run():
            return self._run(args, out, log)

    def _run(self, args: list[str], out: Path, log: Path) -> list[dict[str, Any]]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"args": args, "log": str(log)}) + "\n")
        proc.stdin.flush()
        ready = select.select([proc.stdout], [], [], RUN_TIMEOUT_S)[0]
        if not ready:
            self.close()
            raise AssertionError(f"check run did not finish in {RUN_TIMEOUT_S}s")
        answer = proc.stdout.readline()
        code = json.loads(answer)["exit"] if answer else -1
        text = log.read_text(errors="replace") if log.exists() else ""
        if code not in (0, 1) or not out.exists():
            raise AssertionError(f"check run failed to complete (exit {code}):\n{text[-4000:]}")
        return json.loads(out.read_text())

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def runner() -> Iterator[CheckRunner]:
    r = CheckRunner()
    yield r
    r.close()


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The check catalog by id, exported exactly as auditors get it."""
    out = tmp_path_factory.mktemp("catalog")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "--catalog",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return {c["id"]: c for c in json.loads((out / "catalog.json").read_text())}


@pytest.fixture(scope="session")
def inventory_path(sandbox: Any) -> Path:
    return Path(sandbox.state["inventory_path"])


def _failures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["outcome"] in ("failed", "broken")]


def _describe(records: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {r['outcome'].upper()} {r['nodeid']}: {r['message'][:300]}"
                     for r in records) or "  (none)"


# ------------------------------------------------------------------------------------ coverage
def test_every_check_is_caught_by_some_fault(catalog: dict[str, dict[str, Any]]) -> None:
    caught = {cid for row in ROWS for cid in row.catches}
    missing = sorted(set(catalog) - caught)
    assert not missing, f"checks no fault proves (add rows in tests/matrix/): {missing}"


def test_rows_name_existing_faults_and_checks(catalog: dict[str, dict[str, Any]]) -> None:
    known = manager.faults()
    problems = [f"row {r.fault}: no such fault" for r in ROWS if r.fault not in known]
    for r in ROWS:
        problems += [f"row {r.fault}: unknown check {cid}" for cid in
                     (*r.catches, *r.tolerates, *r.broken) if cid not in catalog]
    names = [r.fault for r in ROWS]
    problems += [f"fault {n} has two rows" for n in set(names) if names.count(n) > 1]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fault", sorted(manager.faults()))
def test_fault_has_a_row(fault: str, catalog: dict[str, dict[str, Any]]) -> None:
    if any(r.fault == fault for r in ROWS):
        return
    if any(r.fault == fault for rows in PROFILE_ROWS.values() for r in rows):
        return  # proven on its profile's sandbox (tests/reference/test_profiles.py)
    area = manager.faults()[fault].area
    if not any(c["area"] == area for c in catalog.values()):
        pytest.skip(f"pending: area '{area}' has no checks yet")
    pytest.fail(f"fault {fault} (area {area}) is caught by no check: add a row in "
                f"tests/matrix/{area}.py or a check that catches it")


# ------------------------------------------------------------------------------------- healthy
def test_healthy_sandbox_passes_every_check(inventory_path: Path, tmp_path: Path,
                                           runner: CheckRunner) -> None:
    records = runner.run(inventory_path, tmp_path / "healthy.json")
    bad = _failures(records)
    assert records, "no check ran against the sandbox"
    assert not bad, f"false positives on the healthy sandbox:\n{_describe(bad)}"


# -------------------------------------------------------------------------------------- faults
@pytest.fixture
def injected(sandbox: Any, request: pytest.FixtureRequest) -> Iterator[Row]:
    row: Row = request.param
    with machine.machine_wide_fault() if row.machine_wide else contextlib.nullcontext():
        manager.inject(sandbox, row.fault)
        try:
            if row.settle_s:
                time.sleep(row.settle_s)
            yield row
        finally:
            manager.revert(sandbox, row.fault)


@pytest.mark.parametrize("injected", ROWS, ids=[r.fault for r in ROWS], indirect=True)
def test_fault_is_caught(injected: Row, inventory_path: Path, tmp_path: Path,
                         catalog: dict[str, dict[str, Any]], runner: CheckRunner) -> None:
    row = injected
    ids = [*row.catches, *row.tolerates, *row.broken]
    areas = sorted({catalog[c]["area"] for c in ids if c in catalog})
    assert areas, f"row {row.fault} names no known check"
    records = runner.run(inventory_path, tmp_path / "run.json", " or ".join(areas))
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_id.setdefault(r["check_id"], []).append(r)

    problems: list[str] = []
    for cid, fragment in row.catches.items():
        wanted = "broken" if cid in row.broken else "failed"
        hits = [r for r in by_id.get(cid, []) if r["outcome"] == wanted]
        if not hits:
            seen = ", ".join(f"{r['nodeid']}={r['outcome']}" for r in by_id.get(cid, []))
            problems.append(f"{cid} did not report {wanted} (saw: {seen or 'no result'})")
        elif not any(fragment.lower() in r["message"].lower() for r in hits):
            problems.append(f"{cid} {wanted} without '{fragment}' in its message: "
                            f"{hits[0]['message'][:300]!r}")
    allowed = set(ids)
    unrelated = [r for r in _failures(records) if r["check_id"] not in allowed]
    if unrelated:
        problems.append("unrelated checks failed:\n" + _describe(unrelated))
    assert not problems, f"fault {row.fault}:\n" + "\n".join(problems)
