"""Evidence bundles (manifest, signature, tamper detection) and the HTML report, opened in
headless Chromium. One pytester run feeds all of them (the expensive part is the run)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opsverify import bundle, report
from tests.reports.conftest import DEMO_CHECKS, INVENTORY

ROOT = Path(__file__).resolve().parents[2]
SEED_HEX = "42" * 32
SECRET = "Zq8-bundle-s3cret-Value"
FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A signed bundle of one run with a failure and a broken result (run once per module:
    the run, the bundle's HTML rendering and the browser are the slow parts)."""
    proj = tmp_path_factory.mktemp("bundle-project")
    (proj / "pytest.ini").write_text(
        "[pytest]\ntestpaths = checks\naddopts = --strict-markers -p no:randomly\n")
    parts = DEMO_CHECKS.split("@check(", 2)
    for area, body in (("health", parts[1]), ("performance", parts[2])):
        (proj / "checks" / area).mkdir(parents=True)
        (proj / "checks" / area / "__init__.py").write_text("")
        (proj / "checks" / area / f"test_{area}.py").write_text(parts[0] + "@check(" + body)
    (proj / "checks" / "__init__.py").write_text("")
    (proj / "environments").mkdir()
    (proj / "environments" / "demo.yml").write_text(
        INVENTORY + "postgres:\n  - {name: main, dsn: 'postgresql://mon:${DEMO_PW}@127.0.0.1/app'}\n")
    (proj / "environments" / "demo.waivers.yml").write_text(
        "waivers:\n  - {check: HLT-901, target: bad, reason: legacy client, owner: alice,"
        f" ticket: OPS-42, expires: '{FUTURE}'}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "PYTEST_"))}
    env.update({"DEMO_PW": SECRET, "OPSVERIFY_SIGNING_KEY": SEED_HEX})
    # under xdist: the controller, which imports no check, must still write the catalog
    result = subprocess.run([sys.executable, "-m", "pytest", "--env", "demo", "-m", "daily",
                             "--bundle", "-n", "2"], cwd=proj, env=env, capture_output=True,
                            text=True, timeout=180, check=False)
    assert result.returncode == 1, result.stdout[-3000:]
    dirs = list((proj / "reports" / "demo-env").iterdir())
    assert len(dirs) == 1
    assert f"evidence bundle: {dirs[0]}" in result.stdout
    # waivers under xdist: applied on the workers, listed by the controller
    assert f"WAIVED  [critical] HLT-901[bad]: WAIVED until {FUTURE} by alice" in result.stdout
    return dirs[0], result.stdout


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opsverify.bundle", "verify", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_bundle_contents_manifest_signature_and_tampering(
    bundled: tuple[Path, str], tmp_path: Path
) -> None:
    d, _ = bundled
    for name in ("allure-results", "junit.xml", "results.json", "catalog/catalog.md",
                 "catalog/catalog.json", "inventory.yml", "bundle.json", "metrics.prom",
                 bundle.MANIFEST, bundle.SIGNATURE, bundle.PUBLIC_KEY):
        assert (d / name).exists(), name
    catalog_ids = [c["id"] for c in json.loads((d / "catalog" / "catalog.json").read_text())]
    assert catalog_ids == ["HLT-901", "PRF-901"]
    inventory = (d / "inventory.yml").read_text()
    assert "postgresql://mon:***@127.0.0.1/app" in inventory  # as written, passwords masked
    for path in d.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    listed = (d / bundle.MANIFEST).read_text()
    assert "  junit.xml\n" in listed and "  allure-results/environment.properties\n" in listed
    # intact, signed; checked against the trusted key too
    trusted = tmp_path / "trusted.pem"
    trusted.write_bytes(bundle.public_pem(bundle.load_private_key(SEED_HEX)))
    ok = _verify(str(d), "--public-key", str(trusted))
    assert ok.returncode == 0, ok.stdout
    assert "signature valid" in ok.stdout and "trusted key given" in ok.stdout
    # a modified file is detected (on a copy: the bundle is shared with the HTML test)
    d = Path(shutil.copytree(d, tmp_path / "copy"))
    junit = d / "junit.xml"
    junit.write_text(junit.read_text().replace("failure", "passed"))
    bad = _verify(str(d))
    assert bad.returncode == 1
    assert "MODIFIED  junit.xml" in bad.stdout and "NOT INTACT" in bad.stdout


def test_forged_manifest_fails_the_signature(tmp_path: Path) -> None:
    d = tmp_path / "b"
    d.mkdir()
    (d / "results.json").write_text('[{"outcome": "failed"}]\n')
    bundle.seal(d, environ={bundle.SIGNING_ENV: SEED_HEX})
    assert bundle.verify(d).ok
    (d / "results.json").write_text("[]\n")
    bundle.write_manifest(d)  # hashes recomputed by a forger who lacks the key
    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "other.pem").write_bytes(other)
    forged = _verify(str(d))
    assert forged.returncode == 1 and "SIGNATURE INVALID" in forged.stdout
    wrong_key = bundle.verify(d, other)
    assert not wrong_key.ok


def test_unsigned_bundle_verifies_and_missing_files_are_reported(tmp_path: Path) -> None:
    d = tmp_path / "b"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.txt").write_text("b")
    assert bundle.seal(d, environ={}) == [f"manifest {d / bundle.MANIFEST}"]
    assert bundle.verify(d).ok
    (d / "sub" / "b.txt").unlink()
    (d / "extra.txt").write_text("x")
    v = bundle.verify(d)
    assert not v.ok and v.missing == ["sub/b.txt"] and v.unlisted == ["extra.txt"]


@pytest.mark.skipif(report.find_allure(ROOT) is None,
                    reason="Allure CLI not installed: run `make install` (npm ci)")
def test_html_report_in_headless_chromium(bundled: tuple[Path, str], tmp_path: Path) -> None:
    """The auditor's single file: generated, analytics stripped, rendered by a real browser
    with the expected totals, environment and categories, and no request leaving the host."""
    d, _ = bundled
    assert (d / "allure-report.html").exists()  # the bundle carries the HTML report
    results = d / "allure-results"
    out = tmp_path / "allure-report"
    history = tmp_path / "history"
    rep = report.generate(results, out, history_dir=history)
    assert rep.environment == "demo-env"
    stats = rep.summary["stats"]
    assert (stats["total"], stats["passed"], stats["broken"], stats["skipped"]) == (6, 4, 1, 1)
    for page in out.rglob("*.html"):
        assert not report.phones_home(page.read_text(errors="replace")), page
    assert not report.phones_home(rep.single_file.read_text())
    # history carried per environment: a second generation adds a second point
    report.generate(results, out, history_dir=history)
    assert len((history / "demo-env.jsonl").read_text().splitlines()) == 2
    shot = ROOT / "reports" / "selftest-report.png"
    seen = report.browser_check(rep.single_file, shot, "demo-env", root=ROOT,
                                click="Categories")
    assert seen["found"], seen["text"][:500]
    text = seen["text"]
    assert "opsverify: demo-env" in text
    assert "Total\n6" in text and "Broken\n1" in text and "Passed\n4" in text
    assert "Skipped\n1" in text  # the waived finding
    assert "Waived findings" in seen["clicked_text"]
    assert "Target unreachable" in seen["clicked_text"]
    assert "inventory.sha256" in text  # the run metadata (environment.properties)
    assert seen["external_requests"] == []
    assert shot.stat().st_size > 10_000
    assert seen["elapsed_ms"] < 60_000  # about 8 s on an idle 2-core machine
