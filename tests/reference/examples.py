"""Helpers shared by the reference-system self-tests: where the examples are, their secrets."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("dicom-viewer", "horalix-view", "allodoc", "spherosegv4", "regulatory-assistant")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def example_path(system: str) -> Path:
    return ROOT / "environments" / f"example-{system}.yml"


def required_vars(path: Path) -> set[str]:
    """Variables without a default that the file's values (not its comments) use."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            names.update(m.group(1) for m in _VAR_RE.finditer(node) if m.group(2) is None)

    walk(yaml.safe_load(path.read_text()))
    return names


def dummy_environ(path: Path) -> dict[str, str]:
    return {name: f"dummy-{name.lower()}" for name in required_vars(path)}


