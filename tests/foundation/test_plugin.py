"""The plugin end to end, in throwaway projects (pytester): markers, parametrization,
failed vs broken, Allure metadata, redaction, gates, catalog export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SECRET = "Zq8-distinctive-s3cret-Value"

DEMO_CHECKS = '''
from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach


@check(id="HLT-901", title="Endpoints answer", severity="critical",
       schedules=["daily", "predeploy"], targets="http",
       rationale="Users cannot work when the API is down.",
       remediation="Restart the backend (docker compose restart backend).",
       references=["https://example.test/runbook#health"])
def test_endpoint_answers(target, inventory):
    attach("observation", {"url": target.url, "status": 500 if target.name == "bad" else 200})
    if target.name == "dead":
        raise ProbeError(target.name, f"cannot connect to {target.url}: connection refused")
    assert target.name != "bad", f"{target.name}: {target.url} answered 500, expected 200"


@check(id="HLT-902", title="Databases answer", severity="minor", schedules=["weekly"],
       targets="postgres", rationale="r", remediation="m")
def test_database_answers(target):
    pass


@check(id="HLT-903", title="Environment-wide check", severity="normal", schedules=["daily"],
       rationale="r", remediation="m")
def test_whole_environment(inventory):
    assert inventory.environment
'''

INVENTORY = """
environment: demo-env
http:
  - {name: good, url: "https://user:${DEMO_PW}@good.test/health"}
  - {name: bad, url: "https://bad.test/health?token=${DEMO_PW}"}
  - {name: dead, url: "https://dead.test/${DEMO_PW}"}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(
        "[pytest]\ntestpaths = checks\nstrict_markers = true\naddopts = -p no:randomly\n"
    )
    (pytester.path / "checks" / "health").mkdir(parents=True)
    (pytester.path / "checks" / "__init__.py").write_text("")
    (pytester.path / "checks" / "health" / "__init__.py").write_text("")
    (pytester.path / "checks" / "health" / "test_demo.py").write_text(DEMO_CHECKS)
    (pytester.path / "environments").mkdir()
    (pytester.path / "environments" / "demo.yml").write_text(INVENTORY)
    monkeypatch.setenv("DEMO_PW", SECRET)
    return pytester


def _results(project: pytest.Pytester) -> list[dict]:
    d = project.path / "reports" / "allure-results"
    return [json.loads(p.read_text()) for p in d.glob("*-result.json")]


def test_markers_are_registered_with_descriptions(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--markers")
    out = result.stdout.str()
    for marker in ("daily:", "weekly:", "predeploy:", "postdeploy:", "health:", "tls:",
                   "critical:"):
        assert f"@pytest.mark.{marker}" in out


def test_misspelt_schedule_is_an_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--env", "demo", "-m", "dayly")
    assert result.ret != 0
    assert "dayly" in result.stderr.str() + result.stdout.str()


def test_run_reports_failed_broken_passed_and_skipped(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--env", "demo")
    assert result.ret == 1
    outcomes = {r["name"]: r["status"] for r in _results(project)}
    assert outcomes["HLT-901: Endpoints answer [good]"] == "passed"
    assert outcomes["HLT-901: Endpoints answer [bad]"] == "failed"
    assert outcomes["HLT-901: Endpoints answer [dead]"] == "broken"
    assert outcomes["HLT-902: Databases answer [not-declared]"] == "skipped"
    skipped = next(r for r in _results(project) if r["status"] == "skipped")
    assert "postgres not declared in inventory demo-env" in skipped["statusDetails"]["message"]
    bad = next(r for r in _results(project) if r["status"] == "failed")
    assert "answered 500, expected 200" in bad["statusDetails"]["message"]
    assert "Restart the backend" in bad["statusDetails"]["message"]


def test_allure_labels_parameters_and_run_metadata(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--env", "demo")
    good = next(r for r in _results(project) if r["name"].endswith("[good]"))
    labels = {(label["name"], label["value"]) for label in good["labels"]}
    assert {("epic", "health"), ("feature", "demo"), ("story", "Endpoints answer"),
            ("severity", "critical"), ("tag", "daily"), ("tag", "predeploy"),
            ("check_id", "HLT-901")} <= labels
    assert {"name": "target", "value": "'good'"} in good["parameters"]
    assert any(link["url"] == "https://example.test/runbook#health" for link in good["links"])
    assert "Users cannot work" in good["description"]
    results = project.path / "reports" / "allure-results"
    props = (results / "environment.properties").read_text()
    assert "environment=demo-env" in props and "inventory.sha256=" in props
    categories = json.loads((results / "categories.json").read_text())
    assert [c["name"] for c in categories] == ["Target unreachable", "Threshold breached",
                                               "Check defect"]
    assert (project.path / "reports" / "junit.xml").exists()


def test_no_secret_anywhere_in_outputs(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--env", "demo", "-v", "-rA")
    text = result.stdout.str() + result.stderr.str()
    assert SECRET not in text
    for path in (project.path / "reports").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    assert "***" in (project.path / "reports" / "junit.xml").read_text()


@pytest.mark.parametrize(("gate", "expected"), [(None, 1), ("critical", 1), ("blocker", 0)])
def test_gate_blocks_only_at_or_above_its_severity(
    project: pytest.Pytester, gate: str | None, expected: int
) -> None:
    args = ["--env", "demo"] + (["--gate", gate] if gate else [])
    assert project.runpytest_subprocess(*args).ret == expected


def test_gate_works_under_xdist(project: pytest.Pytester) -> None:
    assert project.runpytest_subprocess("--env", "demo", "-n", "2", "--gate", "blocker").ret == 0
    assert project.runpytest_subprocess("--env", "demo", "-n", "2", "--gate", "critical").ret == 1
    assert len(_results(project)) == 5


def test_inventory_option_takes_a_path_outside_the_project(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "prod.yml"
    elsewhere.write_text("environment: elsewhere\n")
    result = project.runpytest_subprocess("--inventory", str(elsewhere), "-m", "daily")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*environment elsewhere*", f"rootdir: {project.path}*",
                                 "*testpaths: checks*"])
    typo = project.runpytest_subprocess("--inventory", str(elsewhere), "-m", "dayly")
    assert typo.ret == pytest.ExitCode.USAGE_ERROR


def test_no_environment_selected_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no environment selected" in result.stderr.str()


def test_catalog_export_lists_every_check(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--catalog", "out")
    assert result.ret == 0
    data = json.loads((project.path / "out" / "catalog.json").read_text())
    assert [c["id"] for c in data] == ["HLT-901", "HLT-902", "HLT-903"]
    assert data[0]["remediation"].startswith("Restart the backend")
    md = (project.path / "out" / "catalog.md").read_text()
    assert "## HLT-902: Databases answer" in md


@pytest.mark.parametrize(("decorator", "problem"), [
    ('id="HLT-1", title="t", severity="minor", schedules=["daily"], rationale="r", '
     'remediation="m"', "must look like AREA-NNN"),
    ('id="HLT-910", title="t", severity="urgent", schedules=["daily"], rationale="r", '
     'remediation="m"', "unknown severity 'urgent'"),
    ('id="HLT-910", title="t", severity="minor", schedules=["dayly"], rationale="r", '
     'remediation="m"', "unknown schedule dayly"),
    ('id="HLT-910", title="t", severity="minor", schedules=["daily"], rationale="", '
     'remediation="m"', "'rationale' is missing"),
    ('id="HLT-901", title="t", severity="minor", schedules=["daily"], rationale="r", '
     'remediation="m"', "duplicate check id HLT-901"),
])
def test_invalid_metadata_is_a_collection_error(
    project: pytest.Pytester, decorator: str, problem: str
) -> None:
    (project.path / "checks" / "health" / "test_more.py").write_text(
        f"from opsverify.catalog import check\n\n@check({decorator})\ndef test_x():\n    pass\n")
    result = project.runpytest_subprocess("--env", "demo")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert problem in result.stdout.str()


def test_checks_get_a_last_resort_timeout(project: pytest.Pytester) -> None:
    (project.path / "environments" / "fast.yml").write_text(
        "environment: fast\nthresholds: {timeout_s: 0.5}\n")
    (project.path / "checks" / "health" / "test_hang.py").write_text(
        "import time\nfrom opsverify.catalog import check\n\n"
        '@check(id="HLT-920", title="t", severity="minor", schedules=["smoke"], rationale="r",'
        ' remediation="m")\ndef test_hangs():\n    time.sleep(60)\n')
    result = project.runpytest_subprocess("--env", "fast", "-m", "smoke")
    assert result.ret == 1
    assert "Timeout" in result.stdout.str()
    assert result.duration < 25


def test_results_json_has_one_record_per_result(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--env", "demo", "--results-json", "r.json")
    records = json.loads((project.path / "r.json").read_text())
    by_target = {r["target"]: r for r in records if r["check_id"] == "HLT-901"}
    assert by_target["bad"]["outcome"] == "failed"
    assert by_target["dead"]["outcome"] == "broken"
    assert SECRET not in Path(project.path / "r.json").read_text()
