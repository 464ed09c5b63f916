"""The five sandbox profiles, each proven like the generic sandbox: healthy, then faulty.

For each reference system: ``up --profile NAME`` (one sandbox at a time, taken down before
the next), then the daily checks of the areas its faults concern must pass with nothing failed
or broken, and every row of ``tests/matrix/profiles.py`` must be caught by the checks it names,
with their message fragments, and nothing else in those areas may fail. The checks run as an
operator runs them (``pytest -m "daily and <areas>" --inventory <the profile's inventory>``) in
the fault matrix's long-lived runner.

Also: the inventory a profile writes uses the example inventory's item names, so a team sees
its own file running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsverify.sandbox import Sandbox, SandboxError, down, manager, profiles, up
from tests.matrix import Row
from tests.matrix.profiles import PROFILE_ROWS
from tests.reference.examples import SYSTEMS, example_path
from tests.test_fault_matrix import CheckRunner, _describe, _failures


class ProfileSandboxes:
    """One profile's sandbox at a time: asking for another takes the current one down first."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.sb: Sandbox | None = None
        self.state_dir: Path | None = None

    def get(self, name: str) -> Sandbox:
        if self.name == name and self.sb is not None:
            return self.sb
        self.close()
        state_dir = Path(tempfile.mkdtemp(prefix=f"opsverify-{name}-", dir="/tmp"))
        state_dir.chmod(0o755)  # postgres and redis must traverse it
        self.state_dir = state_dir
        try:
            self.sb = up(state_dir, state_dir / "sandbox.yml", profile=name)
        except SandboxError as exc:
            self.close()
            pytest.fail(f"profile {name} did not start: {exc}", pytrace=False)
        self.name = name
        return self.sb

    def close(self) -> None:
        if self.state_dir is not None:
            problems = down(self.state_dir)
            if not os.environ.get("OPSVERIFY_KEEP_SANDBOX"):
                shutil.rmtree(self.state_dir, ignore_errors=True)
            assert not problems, f"profile {self.name} down reported: {problems}"
        self.name = self.sb = self.state_dir = None


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[ProfileSandboxes]:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (services run as postgres/redis users)")
    pool = ProfileSandboxes()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def runner() -> Iterator[CheckRunner]:
    r = CheckRunner()
    yield r
    r.close()


@pytest.fixture(scope="module")
def areas(catalog: list[dict[str, Any]]) -> dict[str, str]:
    return {c["id"]: c["area"] for c in catalog}


def _ids(row: Row) -> list[str]:
    return [*row.catches, *row.tolerates, *row.broken]


def _markexpr(check_areas: set[str]) -> str:
    return f"daily and ({' or '.join(sorted(check_areas))})"


def _inventory(sb: Sandbox) -> Path:
    return Path(sb.state["inventory_path"])


# ---------------------------------------------------------------------------------- the data
def test_every_system_has_a_profile_and_three_faults() -> None:
    assert sorted(profiles.PROFILES) == sorted(SYSTEMS)
    assert sorted(PROFILE_ROWS) == sorted(SYSTEMS)
    known = manager.faults()
    for name, rows in PROFILE_ROWS.items():
        assert len({r.fault for r in rows}) >= 3, f"{name}: fewer than three faults"
        missing = [r.fault for r in rows if r.fault not in known]
        assert not missing, f"{name}: unknown faults {missing}"


def test_profile_rows_name_known_daily_checks(catalog: list[dict[str, Any]]) -> None:
    daily = {c["id"] for c in catalog if "daily" in c["schedules"]}
    bad = [f"{name}/{r.fault}: {cid}" for name, rows in PROFILE_ROWS.items() for r in rows
           for cid in _ids(r) if cid not in daily]
    assert not bad, f"rows name checks that are not daily checks: {bad}"


@pytest.mark.parametrize("name", SYSTEMS)
def test_profile_follows_its_example(name: str) -> None:
    """Thresholds and compose names are the example's; every endpoint is named like an item."""
    example = yaml.safe_load(example_path(name).read_text())
    profile = profiles.get(name)
    assert profile.thresholds == example["thresholds"], f"{name}: thresholds differ"
    assert profile.tls in {t["name"] for t in example["tls"]}
    assert [profile.redis] == [r["name"] for r in example["redis"]]
    assert bool(profile.prometheus) == ("prometheus" in example)
    assert bool(profile.alertmanager) == ("alertmanager" in example)
    assert (profile.cert_file is not None) == ("cert_files" in example)
    assert profile.docker_project == example["docker"]["project"], f"{name}: compose project"
    assert list(profile.docker_services) == example["docker"]["services"], f"{name}: services"
    assert [dict(p) for p in profile.docker_log_patterns] == example["docker"].get(
        "log_patterns", []), f"{name}: docker log patterns"
    assert "docker" not in profile.skip, f"{name}: the profile leaves its containers out"
    example_http = {h["name"]: h for h in example["http"]}
    for ep in profile.http:
        assert ep.name in example_http, f"{name}: http item {ep.name} is not in the example"
        path = example_http[ep.name]["url"].split("://", 1)[1].partition("/")[2]
        if ep.name != "dicom-upload":  # the runbook names no upload route (see the example)
            assert "/" + path == ep.path, f"{name}: {ep.name} path {ep.path} vs /{path}"
    example_backups = {b["name"]: b for b in example.get("backups", [])}
    for series in profile.backups:
        assert example_backups[series.item]["pattern"] == f"{series.prefix}*{series.suffix}"
        assert example_backups[series.item]["format"] == series.format
        assert example_backups[series.item]["path"].lstrip("/") == profile.backup_dir


# ------------------------------------------------------------------------------ live sandboxes
# One list, profile by profile (healthy first): each profile's sandbox starts once.
LIVE: list[tuple[str, Row | None]] = [
    case for name, rows in PROFILE_ROWS.items()
    for case in [(name, None), *((name, r) for r in rows)]
]


def _check_healthy(name: str, sb: Sandbox, records: list[dict[str, Any]]) -> None:
    assert any(r["outcome"] == "passed" for r in records), f"{name}: no check passed"
    bad = _failures(records)
    assert not bad, f"false positives on the healthy {name} profile:\n{_describe(bad)}"
    written = yaml.safe_load(_inventory(sb).read_text())
    assert written["environment"] == f"sandbox-{name}"
    assert [h["name"] for h in written["http"]] == [e.name for e in profiles.get(name).http]


def _check_caught(name: str, row: Row, records: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    for cid, fragment in row.catches.items():
        wanted = "broken" if cid in row.broken else "failed"
        hits = [r for r in records if r["check_id"] == cid and r["outcome"] == wanted]
        if not hits:
            seen = ", ".join(f"{r['nodeid']}={r['outcome']}" for r in records
                             if r["check_id"] == cid)
            problems.append(f"{cid} did not report {wanted} (saw: {seen or 'no result'})")
        elif not any(fragment.lower() in r["message"].lower() for r in hits):
            problems.append(f"{cid} {wanted} without '{fragment}' in its message: "
                            f"{hits[0]['message'][:300]!r}")
    unrelated = [r for r in _failures(records) if r["check_id"] not in set(_ids(row))]
    if unrelated:
        problems.append("unrelated checks failed:\n" + _describe(unrelated))
    assert not problems, f"profile {name}, fault {row.fault}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("name", "row"), LIVE,
                         ids=[f"{n}-{r.fault if r else 'healthy'}" for n, r in LIVE])
def test_profile(name: str, row: Row | None, sandboxes: ProfileSandboxes, runner: CheckRunner,
                 areas: dict[str, str], tmp_path: Path) -> None:
    """Healthy: the daily checks of the profile's fault areas all pass. Fault: it is caught."""
    sb = sandboxes.get(name)
    rows = [row] if row else PROFILE_ROWS[name]
    markexpr = _markexpr({areas[c] for r in rows for c in _ids(r)})
    if row is None:
        _check_healthy(name, sb, runner.run(_inventory(sb), tmp_path / "healthy.json", markexpr))
        return
    manager.inject(sb, row.fault)
    try:
        records = runner.run(_inventory(sb), tmp_path / "run.json", markexpr)
    finally:
        manager.revert(sb, row.fault)
    _check_caught(name, row, records)
