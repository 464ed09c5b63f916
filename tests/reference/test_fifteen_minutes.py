"""The worked example of docs/inventory-in-15-minutes.md is a valid inventory.

The page builds the inventory in YAML snippets; put together they must load, or the page
teaches keys that do not exist. Validation only: nothing is contacted.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from opsverify.inventory import load_inventory

DOC = Path(__file__).resolve().parents[2] / "docs" / "inventory-in-15-minutes.md"
_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def test_worked_example_snippets_form_a_valid_inventory(tmp_path: Path) -> None:
    merged: dict = {}
    for block in _BLOCK.findall(DOC.read_text()):
        part = yaml.safe_load(block)
        overlap = set(merged) & set(part)
        assert not overlap, f"section(s) {overlap} written twice in the page"
        merged.update(part)
    assert {"environment", "http", "tls", "postgres", "redis", "docker", "hosts",
            "backups", "security"} <= set(merged)
    path = tmp_path / "radnotes.yml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    names = set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    inv = load_inventory(path, environ={n: "dummy" for n in names})
    assert inv.docker is not None and inv.docker.one_shot == ["migrate"]
    assert next(h for h in inv.http if h.name == "upload").accepts_upload == 2 * 1024**3
    assert inv.thresholds.db_connections_max_pct == 60
