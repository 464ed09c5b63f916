"""Waivers: a waived finding is visible and does not fail the gate; expired or unmatched
waivers are findings; malformed files are one-line usage errors (exit 4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from opsverify.errors import InventoryError
from opsverify.waivers import load_waivers
from tests.reports.conftest import allure_results, write_waivers

FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=2)).isoformat()


def _waiver(target: str, expires: str = FUTURE, check: str = "HLT-901") -> str:
    return (f"  - {{check: {check}, target: {target}, reason: 'legacy client, retired in Q1',"
            f" owner: alice, ticket: OPS-42, expires: '{expires}'}}\n")


def test_waived_finding_is_reported_as_waived_and_does_not_fail(project: pytest.Pytester) -> None:
    write_waivers(project, "environment: demo-env\nwaivers:\n" + _waiver("bad"))
    result = project.runpytest_subprocess("--env", "demo", "-m", "daily", "--gate", "critical",
                                          "--deselect", "checks/health/test_endpoints.py::"
                                          "test_endpoint_answers[dead]")
    assert result.ret == 0, result.stdout.str()
    bad = allure_results(project)["HLT-901: Endpoints answer [bad]"]
    assert bad["status"] == "skipped"
    msg = bad["statusDetails"]["message"]
    assert f"WAIVED until {FUTURE} by alice (OPS-42): legacy client" in msg
    assert "answered 500, expected 200" in msg  # the finding stays visible
    assert {"name": "tag", "value": "waived"} in bad["labels"]
    cats = (project.path / "reports" / "allure-results" / "categories.json").read_text()
    assert "Waived findings" in cats
    out = result.stdout.str()
    assert f"WAIVED  [critical] HLT-901[bad]: WAIVED until {FUTURE} by alice (OPS-42)" in out


def test_broken_results_are_never_waived(project: pytest.Pytester) -> None:
    write_waivers(project, "waivers:\n" + _waiver("dead"))
    result = project.runpytest_subprocess("--env", "demo", "-m", "daily")
    assert result.ret == 1
    assert allure_results(project)["HLT-901: Endpoints answer [dead]"]["status"] == "broken"


def test_expired_waiver_fails_and_no_longer_covers(project: pytest.Pytester) -> None:
    write_waivers(project, "waivers:\n" + _waiver("bad", PAST))
    result = project.runpytest_subprocess("--env", "demo", "-m", "daily", "--gate", "blocker")
    assert result.ret == 1  # an expired waiver blocks any gate
    results = allure_results(project)
    assert results["HLT-901: Endpoints answer [bad]"]["status"] == "failed"
    expired = results["waiver-expired[HLT-901:bad]"]
    assert expired["status"] == "failed"
    assert f"expired on {PAST}" in expired["statusDetails"]["message"]
    assert "owner alice, ticket OPS-42" in expired["statusDetails"]["message"]


@pytest.mark.parametrize(("waiver", "problem"), [
    (_waiver("nosuchtarget"), "matches no target of HLT-901 (targets: bad, dead, good)"),
    (_waiver("bad", check="HLT-999"), "matches no check in the catalog"),
])
def test_waiver_matching_nothing_is_a_finding(project: pytest.Pytester, waiver: str,
                                              problem: str) -> None:
    write_waivers(project, "waivers:\n" + waiver)
    result = project.runpytest_subprocess("--env", "demo", "-m", "daily")
    assert result.ret == 1
    unmatched = [r for n, r in allure_results(project).items() if n.startswith("waiver-unmatched")]
    assert len(unmatched) == 1 and problem in unmatched[0]["statusDetails"]["message"]


@pytest.mark.parametrize(("body", "error"), [
    ("waivers:\n  - {check: HLT-901, target: bad, reason: r, owner: o, ticket: T-1, "
     "expire: 2030-01-01}\n", "waivers[0] (HLT-901).expire: unknown key (did you mean "
                              "'expires'?)"),
    ("waivers:\n  - {check: HLT-901, target: bad, reason: r, owner: o, ticket: T-1, "
     "expires: someday}\n", "waivers[0] (HLT-901).expires: Input should be a valid date"),
    ("waivers:\n  - {check: hlt1, reason: r, owner: o, ticket: T-1, expires: 2030-01-01}\n",
     "waivers[0] (hlt1).check: 'hlt1' is not a check id such as HLT-001"),
    ("waivers:\n  - {check: HLT-901, reason: r, ticket: T-1, expires: 2030-01-01}\n",
     "waivers[0] (HLT-901).owner: required key is missing"),
    ("environment: production\nwaivers: []\n", "waivers are for environment 'production'"),
    ("waivers: [\n", "YAML syntax error"),
])
def test_malformed_waivers_are_one_line_errors(tmp_path: Path, body: str, error: str) -> None:
    path = tmp_path / "w.yml"
    path.write_text(body)
    with pytest.raises(InventoryError) as exc:
        load_waivers(path, "demo-env")
    assert str(exc.value).startswith(f"{path}: ")
    assert error in str(exc.value)
    assert "\n" not in str(exc.value)


def test_malformed_waivers_exit_like_a_broken_inventory(project: pytest.Pytester) -> None:
    path = write_waivers(project, "waivers:\n  - {check: HLT-901, expire: 2030-01-01}\n",
                         "custom.yml")
    result = project.runpytest_subprocess("--env", "demo", "--waivers", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # 4, like inventories
    err = result.stderr.str()
    assert f"{path}: waivers[0] (HLT-901).expire: unknown key" in err
    assert "Traceback" not in err
