"""Reports and gates end to end against the real sandbox (shared session fixture): a waived
real finding, the deployed-version gate over HTTPS, metrics and a signed bundle. Lean: only
the backend endpoint checks run (about 3 results), never the whole catalog."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from opsverify import bundle
from opsverify.sandbox import Sandbox, manager

ROOT = Path(__file__).resolve().parents[2]
SELECT = "test_endpoint_answers_as_expected and backend"


def _run(inventory: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPSVERIFY_SIGNING_KEY="7e" * 32)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:randomly", "--inventory", str(inventory),
           "-k", SELECT, "--alluredir", str(out / "allure-results"), "--clean-alluredir",
           "--junitxml", str(out / "junit.xml"), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_waiver_version_gate_metrics_and_bundle_on_the_sandbox(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    inventory = Path(sandbox.state["inventory_path"])
    waivers = tmp_path / "sandbox.waivers.yml"
    until = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    waivers.write_text(
        "waivers:\n  - {check: HLT-001, target: backend-health, reason: degraded mode accepted"
        f" during the migration, owner: oncall, ticket: CHG-1, expires: '{until}'}}\n")
    prom = tmp_path / "textfile" / "opsverify.prom"
    manager.inject(sandbox, "health_degraded")
    try:
        ok = _run(inventory, tmp_path, "--waivers", str(waivers), "--expect-version", "1.4.2",
                  "--metrics-file", str(prom), "--bundle", "--bundle-dir", str(tmp_path / "b"))
    finally:
        manager.revert(sandbox, "health_degraded")
    out = ok.stdout
    assert ok.returncode == 0, out[-4000:]
    assert f"WAIVED  [critical] HLT-001[backend-health]: WAIVED until {until} by oncall" in out
    assert "deploy-version" not in out.split("short test summary")[-1]  # the gate passed
    metrics = prom.read_text()
    assert ('check_id="HLT-001",target="backend-health",severity="critical",'
            'outcome="waived"} 1') in metrics
    bundles = list((tmp_path / "b").glob("*/*"))
    assert len(bundles) == 1
    assert bundle.verify(bundles[0]).ok
    # a deploy that did not go live: the version endpoint still reports 1.4.2
    bad = _run(inventory, tmp_path, "--expect-version", "1.5.0", "--no-waivers")
    assert bad.returncode == 1
    assert "api-version: " in bad.stdout
    assert "reports version '1.4.2', the deploy expected '1.5.0'" in bad.stdout
