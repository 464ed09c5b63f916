"""PostgreSQL sessions that cannot harm the target: read-only, short statement timeout.

Every check that reads PostgreSQL goes through :func:`connect`. The session is read-only
(``default_transaction_read_only``), has a statement timeout and an idle-in-transaction
timeout, and names itself ``opsverify`` so a DBA sees who is connected.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

APPLICATION_NAME = "opsverify"


def connect(
    dsn: str,
    *,
    target: str,
    timeout_s: float,
    readonly: bool = True,
    statement_timeout_s: float | None = None,
    dbname: str | None = None,
) -> psycopg.Connection[dict[str, Any]]:
    """Open a guarded session, or raise ProbeError saying why it could not be opened."""
    stmt_ms = int((statement_timeout_s or timeout_s) * 1000)
    options = f"-c statement_timeout={stmt_ms} -c lock_timeout={stmt_ms} " \
              f"-c idle_in_transaction_session_timeout={max(stmt_ms * 3, 10000)}"
    if readonly:
        options += " -c default_transaction_read_only=on"
    kwargs: dict[str, Any] = {
        "connect_timeout": max(1, round(timeout_s)),
        "application_name": APPLICATION_NAME,
        "options": options,
        "autocommit": True,
        "row_factory": dict_row,
    }
    if dbname:
        kwargs["dbname"] = dbname
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        raise ProbeError(target, f"cannot connect to PostgreSQL: {describe(exc)}") from None
    except psycopg.Error as exc:
        raise ProbeError(target, f"PostgreSQL refused the session: {describe(exc)}") from None


def query(conn: psycopg.Connection[Any], sql: str, params: Any = None, *,
          target: str) -> list[dict[str, Any]]:
    """Run one read-only query; a failure to observe is a ProbeError."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    except psycopg.errors.QueryCanceled:
        raise ProbeError(target, "query cancelled by the statement timeout") from None
    except psycopg.Error as exc:
        raise ProbeError(target, f"query failed: {describe(exc)}") from None


def describe(exc: BaseException) -> str:
    """One redacted line from a psycopg error (its first line, no DSN)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return redact_text(first)[:300]
