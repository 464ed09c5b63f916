"""Throwaway opsverify projects (pytester) for the reporting and gating self-tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DEMO_CHECKS = '''
import os

from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach, measure


@check(id="HLT-901", title="Endpoints answer", severity="critical",
       schedules=["daily", "predeploy", "postdeploy"], targets="http",
       rationale="Users cannot work when the API is down.",
       remediation="Restart the backend.")
def test_endpoint_answers(target, inventory):
    attach("observation", {"url": target.url})
    if target.name == "dead":
        raise ProbeError(target.name, "connection refused")
    broken = os.environ.get("DEMO_BAD", "bad").split(",")
    assert target.name not in broken, f"{target.name}: answered 500, expected 200"


@check(id="PRF-901", title="Latency stays low", severity="normal",
       schedules=["daily", "predeploy", "postdeploy"], targets="http",
       rationale="Slow pages lose users.", remediation="Profile the slow route.")
def test_latency(target):
    measure("latency_p95_ms", float(os.environ.get("DEMO_LATENCY_MS", "100")), "ms")
'''

INVENTORY = """
environment: demo-env
http:
  - {name: good, url: "https://good.test/health"}
  - {name: bad, url: "https://bad.test/health"}
  - {name: dead, url: "https://dead.test/health"}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini("[pytest]\ntestpaths = checks\naddopts = --strict-markers -p no:randomly\n")
    for area in ("health", "performance"):
        (pytester.path / "checks" / area).mkdir(parents=True)
        (pytester.path / "checks" / area / "__init__.py").write_text("")
    (pytester.path / "checks" / "__init__.py").write_text("")
    checks = DEMO_CHECKS.split("@check(", 2)
    header = checks[0]
    (pytester.path / "checks" / "health" / "test_endpoints.py").write_text(
        header + "@check(" + checks[1])
    (pytester.path / "checks" / "performance" / "test_latency.py").write_text(
        header + "@check(" + checks[2])
    (pytester.path / "environments").mkdir()
    (pytester.path / "environments" / "demo.yml").write_text(INVENTORY)
    monkeypatch.delenv("DEMO_BAD", raising=False)
    monkeypatch.delenv("DEMO_LATENCY_MS", raising=False)
    monkeypatch.delenv("OPSVERIFY_SIGNING_KEY", raising=False)
    return pytester


def allure_results(project: pytest.Pytester) -> dict[str, dict]:
    d = project.path / "reports" / "allure-results"
    return {r["name"]: r for r in (json.loads(p.read_text()) for p in d.glob("*-result.json"))}


def write_waivers(project: pytest.Pytester, body: str, name: str = "demo.waivers.yml") -> Path:
    path = project.path / "environments" / name
    path.write_text(body)
    return path
