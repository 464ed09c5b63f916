"""Check metadata, declared once per check, validated at import.

``@check(...)`` records the metadata auditors read (id, title, severity, schedules, rationale,
remediation, references) and the inventory items the check applies to. The pytest plugin
turns it into markers, parametrization, Allure labels and the catalog export; no check carries
hand-written markers or Allure decorators.

>>> @check(id="DEMO-001", title="Demo is fine", severity="minor", schedules=["daily"],
...        rationale="why", remediation="what to do", targets=None, register=False)
... def test_demo():
...     pass
>>> test_demo.opsverify_check.id
'DEMO-001'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # trivial=0 .. blocker=4
SCHEDULES = {
    "daily": "run by the daily schedule (pytest -m daily)",
    "weekly": "run by the weekly schedule",
    "monthly": "run by the monthly schedule",
    "predeploy": "pre-deployment gate: the environment is fit to receive a deploy",
    "postdeploy": "post-deployment gate: the deploy left the environment healthy",
    "smoke": "fast smoke subset (seconds), safe to run every few minutes",
}
AREAS = {
    "health": "health and availability: endpoints, dependencies, containers, monitoring",
    "resources": "host resources: disk, memory, log growth",
    "backup": "backup integrity: freshness, integrity, checksums, restore drills, retention",
    "tls": "certificates and TLS: expiry, trust, hostname, strength, protocols",
    "security": "security posture: headers, exposure, credentials, hardening, secrets",
    "performance": "performance: latency, error rate, server-side SLOs",
    "database": "PostgreSQL health: connections, long queries, locks, vacuum, statements",
    "cache": "Redis health: memory, eviction, persistence, slowlog",
    "demo": "demonstration checks of the framework itself",
}
ID_RE = re.compile(r"^(?P<prefix>[A-Z]{2,4})-(?P<num>\d{3})$")
REQUIRED = ("id", "title", "severity", "schedules", "rationale", "remediation")

TargetSpec = str | Callable[[Any], list[tuple[str, Any]]] | None
F = TypeVar("F", bound=Callable[..., Any])


class CatalogError(ValueError):
    """A check's metadata is invalid: a collection error, never a silent skip."""


@dataclass(frozen=True)
class CheckMeta:
    """The metadata of one check, as auditors read it in the catalog."""

    id: str
    title: str
    severity: str
    schedules: tuple[str, ...]
    rationale: str
    remediation: str
    references: tuple[str, ...] = ()
    targets: TargetSpec = None
    budget_s: Callable[[Any], float] | None = field(default=None, compare=False)
    area: str = ""
    concern: str = ""
    function: str = ""
    module: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("budget_s")
        d["targets"] = self.targets if isinstance(self.targets, str) else (
            getattr(self.targets, "__doc__", None) or "derived" if self.targets else None
        )
        d["schedules"] = list(self.schedules)
        d["references"] = list(self.references)
        return d


_REGISTRY: dict[str, CheckMeta] = {}


def registry() -> dict[str, CheckMeta]:
    """Every check imported so far, by id."""
    return dict(_REGISTRY)


def _area_concern(module: str) -> tuple[str, str]:
    """``checks.health.test_endpoints`` -> (``health``, ``endpoints``)."""
    parts = module.split(".")
    area = parts[-2] if len(parts) >= 2 else "misc"
    concern = parts[-1].removeprefix("test_")
    return area, concern


def check(
    *,
    id: str,
    title: str,
    severity: str,
    schedules: Sequence[str],
    rationale: str,
    remediation: str,
    references: Sequence[str] = (),
    targets: TargetSpec = None,
    budget_s: Callable[[Any], float] | None = None,
    register: bool = True,
) -> Callable[[F], F]:
    """Declare a check.

    ``targets`` names the inventory section the check is parametrized over (``"http"``), or is
    a function ``inventory -> [(id, item), ...]`` for derived targets (``app1:/var``); ``None``
    means one result per environment. ``budget_s`` overrides the last-resort timeout
    (``inventory -> seconds``) for checks that legitimately take long, such as restore drills.
    """

    def decorate(fn: F) -> F:
        area, concern = _area_concern(fn.__module__)
        meta = CheckMeta(
            id=id,
            title=title,
            severity=severity,
            schedules=tuple(schedules),
            rationale=" ".join(rationale.split()),
            remediation=" ".join(remediation.split()),
            references=tuple(references),
            targets=targets,
            budget_s=budget_s,
            area=area,
            concern=concern,
            function=fn.__name__,
            module=fn.__module__,
        )
        validate(meta)
        if register:
            existing = _REGISTRY.get(id)
            if existing and (existing.module, existing.function) != (meta.module, meta.function):
                raise CatalogError(
                    f"duplicate check id {id}: {existing.module}.{existing.function} and "
                    f"{meta.module}.{meta.function}"
                )
            _REGISTRY[id] = meta
        fn.opsverify_check = meta  # type: ignore[attr-defined]
        return fn

    return decorate


def validate(meta: CheckMeta) -> None:
    where = f"check {meta.module}.{meta.function}"
    for name in REQUIRED:
        value = getattr(meta, name)
        if not value or (isinstance(value, str) and not value.strip()):
            raise CatalogError(f"{where}: metadata field '{name}' is missing or empty")
    if not ID_RE.match(meta.id):
        raise CatalogError(f"{where}: id '{meta.id}' must look like AREA-NNN (e.g. HLT-001)")
    if meta.severity not in SEVERITIES:
        raise CatalogError(
            f"{where}: unknown severity '{meta.severity}' (one of {', '.join(SEVERITIES)})"
        )
    unknown = [s for s in meta.schedules if s not in SCHEDULES]
    if unknown:
        raise CatalogError(
            f"{where}: unknown schedule {', '.join(unknown)} (one of {', '.join(SCHEDULES)})"
        )
    if meta.area not in AREAS and meta.module.startswith("checks."):
        raise CatalogError(f"{where}: area '{meta.area}' is not one of {', '.join(AREAS)}")


def export(metas: Sequence[CheckMeta], directory: Path) -> tuple[Path, Path]:
    """Write the catalog as ``catalog.json`` and ``catalog.md`` for auditors."""
    directory.mkdir(parents=True, exist_ok=True)
    ordered = sorted(metas, key=lambda m: m.id)
    js = directory / "catalog.json"
    js.write_text(json.dumps([m.as_dict() for m in ordered], indent=2) + "\n")
    lines = [
        "# opsverify check catalog",
        "",
        f"{len(ordered)} checks.",
        "",
        "| id | title | area | severity | schedules |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in ordered:
        lines.append(
            f"| {m.id} | {m.title} | {m.area} | {m.severity} | {', '.join(m.schedules)} |"
        )
    lines.append("")
    for m in ordered:
        lines += [
            f"## {m.id}: {m.title}",
            "",
            f"- Area: {m.area} ({m.concern}); severity: {m.severity}; "
            f"schedules: {', '.join(m.schedules)}",
            f"- Applies to: {m.as_dict()['targets'] or 'the environment as a whole'}",
            f"- Why it matters: {m.rationale}",
            f"- Remediation: {m.remediation}",
        ]
        if m.references:
            lines.append("- References: " + "; ".join(m.references))
        lines.append("")
    md = directory / "catalog.md"
    md.write_text("\n".join(lines))
    return js, md
