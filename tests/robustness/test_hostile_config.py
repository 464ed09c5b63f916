"""Hostile waiver and baseline files (and a deeply nested inventory): a one-line error, exit 4
(pytest's usage error), no traceback, in bounded time, before any check runs.

Each case runs the real command line in a child pytest; the cases run concurrently to keep the
suite fast (each child is mostly interpreter start-up).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_BOMB = ("waivers:\n  - check: HLT-001\n    reason: r\n    owner: o\n    expires: 2099-01-01\n"
         "    target: [&a [x, x, x, x, x, x, x, x, x], "
         + ", ".join(f"&{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]"
                     for i in range(8)) + "]\n")


def _cases(d: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (extra command-line arguments, fragment of the expected one-line error)."""
    files = {
        "waivers-alias-bomb.yml": _BOMB.encode(),
        "waivers-deep.yml": b"waivers: " + b"[" * 50_000 + b"]" * 50_000,
        "waivers-huge.yml": b"waivers: []\nnote: " + b"a" * (10 * 1024 * 1024) + b"\n",
        "waivers-latin1.yml": b"waivers:\n  - check: HLT-001\n    reason: caf\xe9 \xff\n",
        "baseline-deep.json": b"[" * 200_000 + b"]" * 200_000,
        "baseline-latin1.json": b'{"format": "opsverify-baseline/1", "x": "\xff\xfe"}',
        "inventory-deep.yml": b"environment: x\nhttp: " + b"[" * 50_000 + b"]" * 50_000,
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    huge = d / "baseline-huge.json"
    with open(huge, "wb") as fh:  # sparse: 3 GB announced, nothing written
        fh.truncate(3 * 1024**3)
    return {
        "waivers alias bomb": (["--waivers", str(d / "waivers-alias-bomb.yml")], "alias bomb"),
        "waivers deep": (["--waivers", str(d / "waivers-deep.yml")], "nested more than"),
        "waivers 10 MB": (["--waivers", str(d / "waivers-huge.yml")], "larger than"),
        "waivers non-UTF-8": (["--waivers", str(d / "waivers-latin1.yml")], "UTF-8"),
        "baseline deep": (["--baseline", str(d / "baseline-deep.json")], "nested too deeply"),
        "baseline 3 GB": (["--baseline", str(huge)], "larger than"),
        "baseline non-UTF-8": (["--baseline", str(d / "baseline-latin1.json")], "utf-8"),
        "inventory deep": (["--inventory", str(d / "inventory-deep.yml")], "nested more than"),
    }


def test_hostile_waiver_baseline_and_inventory_files(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("environment: hostile-config\n")
    procs = {}
    start = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cases = _cases(tmp_path)
    for name, (args, _) in cases.items():
        if "--inventory" not in args:
            args = ["--inventory", str(inv), *args]
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "--no-header",
             "--no-reports", "--co", *args, "checks/health/test_endpoints.py"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    problems = []
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name}: no answer within 60 s")
        fragment = cases[name][1]
        text = (out + err).strip()
        errors = [line for line in text.splitlines() if line.startswith("ERROR")]
        if proc.returncode != 4:
            problems.append(f"{name}: exit {proc.returncode}: {text[-500:]}")
        elif "Traceback" in text or len(errors) != 1 or fragment not in errors[0]:
            problems.append(f"{name}: {text[-500:]!r}")
        print(f"{name}: {errors[0] if errors else text[-200:]}")
    print(f"{len(procs)} hostile files rejected in {time.monotonic() - start:.1f}s (concurrent)")
    assert not problems, "\n".join(problems)

