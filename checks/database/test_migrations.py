"""The database schema is at the revision the deployed code expects (alembic ``current``).

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

from typing import Any

import psycopg

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import Inventory, Postgres
from opsverify.probes import migrations as migrations_probe


def postgres_with_migrations(inventory: Inventory) -> list[tuple[str, Postgres]]:
    """postgres items with migrations"""
    return [(p.name, p) for p in inventory.postgres if p.migrations is not None]


@check(
    id="DB-011",
    title="The schema migration revision is the one the deployment expects",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=postgres_with_migrations,
    rationale="""Code deployed against a schema one migration behind fails on the first
        query that touches the new column - often only on one page, hours later. The runbook
        checks `alembic current` is at head after every deploy; a rollback of the code
        without the schema (or the reverse) shows up the same way.""",
    remediation="""Run the migration step of the deploy (`alembic upgrade head`, or the
        one-shot migrate container) and read its log; if the code was rolled back, either
        downgrade the schema (`alembic downgrade <rev>`) after a backup or redeploy the
        matching code. Update `migrations.expect` in the inventory with each release (or
        pass it from the pipeline as ${VAR}).""",
    references=["runbook 001 Horalix View: Database migrations (alembic current is at head)"],
)
def test_schema_at_expected_revision(target: Postgres, inventory: Inventory,
                                     pg_session: psycopg.Connection[Any]) -> None:
    spec = target.migrations
    assert spec is not None
    obs = migrations_probe.current_revisions(pg_session, spec.table, spec.column,
                                             target=target.name)
    attach("migrations", {**obs.summary(), "expected": spec.expected})
    assert obs.table_exists, (
        f"{target.name}: migration table {spec.table} does not exist: the schema was never "
        f"migrated (or the inventory names the wrong database or table); expected revision "
        f"{', '.join(spec.expected)}")
    assert obs.revisions == spec.expected, (
        f"{target.name}: schema at revision {', '.join(obs.revisions) or 'none (empty table)'}"
        f", expected {', '.join(spec.expected)} ({spec.table}.{spec.column}): the migration "
        "step of the deploy did not run or failed, or code and schema were rolled back apart")
