"""No secret value of the sandbox reaches any output of a run: Allure results, junit.xml,
the results JSON or the terminal — with the security checks failing (faults injected), when
messages and evidence are at their most talkative."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from opsverify.probes.secrets_at_rest import parse_env
from opsverify.sandbox import manager

ROOT = Path(__file__).resolve().parents[2]
#: Faults whose findings sit closest to secrets: a readable env file with a default key, a
#: served /.env, a default login, default database password, Redis without a password.
FAULTS = ("env_file_world_readable", "dotenv_served", "default_login_accepted",
          "pg_default_password", "redis_no_password")
MIN_LEN = 8


def _secret_values(sandbox: Any) -> dict[str, str]:
    """Every secret the sandbox holds: its env file (passwords, DSNs, URLs), the host's app.env
    and the decoy /.env of the web root."""
    inv = Path(sandbox.state["inventory_path"])
    values = {f"sandbox.env:{k}": v for k, v in
              parse_env(inv.with_name(inv.stem + ".env").read_text()).items()}
    app_env = Path(sandbox.state["host"]["paths"]["env_file"])
    values |= {f"app.env:{k}": v for k, v in parse_env(app_env.read_text()).items()
               if any(w in k for w in ("SECRET", "KEY", "PASSWORD", "TOKEN"))}
    decoy = Path(sandbox.state["nginx"]["prefix"]) / "html" / ".env"
    values |= {f"html/.env:{k}": v for k, v in parse_env(decoy.read_text()).items()
               if "SECRET" in k}
    return {k: v for k, v in values.items() if len(v) >= MIN_LEN}


def test_no_secret_value_in_any_output(sandbox: Any, tmp_path: Path) -> None:
    secrets = _secret_values(sandbox)  # read before the faults change SECRET_KEY
    assert len(secrets) >= 8, f"too few secrets found to make this test meaningful: {secrets}"
    injected: list[str] = []
    try:
        for fault in FAULTS:
            manager.inject(sandbox, fault)
            injected.append(fault)
        allure_dir, junit, results = tmp_path / "allure", tmp_path / "junit.xml", \
            tmp_path / "results.json"
        proc = subprocess.run(
            # -l: tracebacks show local variables, the likeliest place for a value to slip out
            [sys.executable, "-m", "pytest", "checks/security", "-m", "security",
             "-p", "no:randomly", "-rA", "-vl",
             "--inventory", sandbox.state["inventory_path"], "--alluredir", str(allure_dir),
             "--junitxml", str(junit), "--results-json", str(results)],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        for fault in reversed(injected):
            manager.revert(sandbox, fault)
    assert proc.returncode == 1, f"expected failing checks:\n{proc.stdout[-3000:]}"
    assert "SEC-020" in results.read_text() and "failed" in results.read_text()
    outputs = {"terminal": proc.stdout + proc.stderr, "junit.xml": junit.read_text(),
               "results.json": results.read_text()}
    files = sorted(allure_dir.iterdir())
    assert any(f.name.endswith("-attachment.json") for f in files), "no evidence was written"
    outputs |= {f"allure-results/{f.name}": f.read_text(errors="replace") for f in files}
    leaks = [f"{name} in {where}" for where, text in outputs.items()
             for name, value in secrets.items() if value in text]
    assert not leaks, "secret values leaked:\n" + "\n".join(leaks)
