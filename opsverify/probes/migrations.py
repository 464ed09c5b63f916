"""The schema revision a migration tool recorded (alembic's ``alembic_version`` table and the
like), read through the guarded read-only session.

The table and column names come from the inventory; they are validated there as plain
identifiers and quoted here with :mod:`psycopg.sql`, never pasted into the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from opsverify.probes import postgres as pg_probe

#: alembic keeps one row per branch head; anything beyond this is not a version table.
MAX_ROWS = 50


@dataclass
class MigrationObservation:
    table: str
    column: str
    table_exists: bool
    revisions: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def current_revisions(conn: psycopg.Connection[Any], table: str, column: str, *,
                      target: str) -> MigrationObservation:
    """The revisions in ``table.column`` (sorted), or ``table_exists=False``."""
    found = pg_probe.query(conn, "SELECT to_regclass(%s) IS NOT NULL AS ok", (table,),
                           target=target)
    if not found[0]["ok"]:
        return MigrationObservation(table, column, False)
    ident = sql.Identifier(*table.split("."))
    rows = pg_probe.query(
        conn, sql.SQL("SELECT {col}::text AS rev FROM {tab} LIMIT %s").format(
            col=sql.Identifier(column), tab=ident),
        (MAX_ROWS,), target=target)
    return MigrationObservation(table, column, True, sorted({str(r["rev"]) for r in rows}))
