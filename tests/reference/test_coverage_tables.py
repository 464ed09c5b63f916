"""The runbook coverage tables (docs/runbooks/*.md) name only checks that exist.

A coverage table is a promise to a team: "step 13 of your runbook is automated by DB-001". A
renamed or removed check would silently break that promise, so every check id in the tables
must be in the catalog, exported the way users export it (``pytest --catalog DIR``), and a
check a table credits with a step must have a target in that system's example inventory (else
it would only ever be skipped there). The tables are also parsed: every row has exactly one
status (check ids, "not automatable here:" with a reason, or "gap: not yet automated"), and
the summary line counts what the table holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reference.examples import ROOT, SYSTEMS

RUNBOOK_DOCS = ROOT / "docs" / "runbooks"
ID_RE = re.compile(r"\b[A-Z]{2,4}-\d{3}\b")
ROW_RE = re.compile(r"^\|\s*(\d+)\s*\|")
SUMMARY_RE = re.compile(
    r"\*\*Summary:\*\* (\d+) verification steps: (\d+) automated, (\d+) not automatable here, "
    r"(\d+) gaps?\.")
NOT_AUTOMATABLE = "not automatable here:"
GAP = "gap: not yet automated"


@dataclass(frozen=True)
class Row:
    number: int
    step: str
    status: str

    @property
    def kind(self) -> str:
        if self.status.startswith(NOT_AUTOMATABLE):
            return "not-automatable"
        if self.status == GAP:
            return "gap"
        ids = [s.strip() for s in self.status.split(",")]
        if ids and all(ID_RE.fullmatch(i) for i in ids):
            return "automated"
        return "invalid"


def _rows(doc: Path) -> Iterator[Row]:
    for line in doc.read_text().splitlines():
        if not ROW_RE.match(line):
            continue
        # split on cell borders, not on escaped pipes inside commands (`a \| b`)
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        assert len(cells) == 5, f"{doc.name}: row needs 5 cells: {line}"
        yield Row(int(cells[0]), cells[2], cells[3])


def test_every_reference_system_has_a_table() -> None:
    missing = [s for s in SYSTEMS if not (RUNBOOK_DOCS / f"{s}.md").exists()]
    assert not missing, f"no coverage table for: {', '.join(missing)}"


@pytest.mark.parametrize("system", SYSTEMS)
def test_check_ids_in_table_exist_in_catalog(system: str, catalog_ids: set[str]) -> None:
    text = (RUNBOOK_DOCS / f"{system}.md").read_text()
    named = set(ID_RE.findall(text))
    unknown = sorted(named - catalog_ids)
    assert not unknown, (
        f"docs/runbooks/{system}.md names check ids that are not in the catalog: "
        f"{', '.join(unknown)} (renamed or removed? update the table)")


@pytest.mark.parametrize("system", SYSTEMS)
def test_table_rows_are_well_formed_and_counted(system: str) -> None:
    doc = RUNBOOK_DOCS / f"{system}.md"
    rows = list(_rows(doc))
    assert rows, f"{doc.name}: no table rows"
    assert [r.number for r in rows] == list(range(1, len(rows) + 1)), (
        f"{doc.name}: rows must be numbered 1..{len(rows)}")
    bad = [f"row {r.number}: {r.status!r}" for r in rows if r.kind == "invalid"]
    assert not bad, (f"{doc.name}: status must be check ids, '{NOT_AUTOMATABLE} <reason>' or "
                     f"'{GAP}': " + "; ".join(bad))
    no_reason = [r.number for r in rows
                 if r.kind == "not-automatable" and len(r.status) <= len(NOT_AUTOMATABLE) + 5]
    assert not no_reason, f"{doc.name}: rows {no_reason} say not automatable without a reason"
    counts = {k: sum(r.kind == k for r in rows) for k in ("automated", "not-automatable", "gap")}
    m = SUMMARY_RE.search(doc.read_text())
    assert m, f"{doc.name}: no '**Summary:** N verification steps: ...' line"
    stated = tuple(int(g) for g in m.groups())
    actual = (len(rows), counts["automated"], counts["not-automatable"], counts["gap"])
    assert stated == actual, (
        f"{doc.name}: summary says {stated} (steps, automated, not automatable, gaps), the "
        f"table holds {actual}")


@pytest.mark.parametrize("system", SYSTEMS)
def test_credited_checks_have_targets_in_the_example(
        system: str, applicable: dict[str, dict[str, set[str]]]) -> None:
    """A step marked automated is automated for this system's inventory, not skipped."""
    rows = [r for r in _rows(RUNBOOK_DOCS / f"{system}.md") if r.kind == "automated"]
    targets = applicable[system]
    idle = sorted({f"{i} (row {r.number})" for r in rows
                   for i in (s.strip() for s in r.status.split(",")) if i not in targets})
    assert not idle, (
        f"docs/runbooks/{system}.md credits checks that have no target in "
        f"environments/example-{system}.yml (they would be skipped): {', '.join(idle)}")


def test_index_counts_match_the_tables() -> None:
    """docs/runbooks/README.md repeats each table's summary: it must say the same."""
    index = (RUNBOOK_DOCS / "README.md").read_text()
    for system in SYSTEMS:
        m = SUMMARY_RE.search((RUNBOOK_DOCS / f"{system}.md").read_text())
        assert m, f"{system}.md has no summary line"
        row = next((line for line in index.splitlines() if f"({system}.md)" in line), None)
        assert row, f"README.md has no row for {system}"
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert tuple(cells[3:7]) == m.groups(), (
            f"README.md row for {system} says {cells[3:7]}, {system}.md says {list(m.groups())}")
