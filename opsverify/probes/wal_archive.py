"""WAL archiving of a PostgreSQL server, read through the guarded read-only session.

Point-in-time recovery needs every WAL segment copied out of the server (``archive_command``);
the runbooks' "1 hour of transaction logs" RPO is only met if segments leave the server within
the hour. What PostgreSQL itself knows about that:

- ``archive_mode`` and whether an ``archive_command`` / ``archive_library`` is set;
- ``pg_stat_archiver``: the last archived and the last failed segment, with their times;
- ``pg_ls_archive_statusdir()``: the ``.ready`` files, one per *completed* segment still waiting
  for the archiver, with the time it was completed (pg_monitor may read it);
- ``archive_timeout``: the longest a segment with writes in it stays open before the server
  switches to a new one. On a quiet server that is what bounds the age of un-archived writes;
  with 0 a transaction written in a quiet hour sits in the open segment until it fills.

Nothing here reads or prints the archive command itself: it often holds storage credentials.

>>> segment_end_lsn("000000010000000A0000003F", 16 * 1024 * 1024)
'A/40000000'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsverify.errors import ProbeError
from opsverify.probes import postgres as pg_probe

_SQL = """
SELECT current_setting('archive_mode') AS archive_mode,
       current_setting('archive_command') AS archive_command,
       coalesce(current_setting('archive_library', true), '') AS archive_library,
       current_setting('archive_timeout') AS archive_timeout,
       pg_is_in_recovery() AS in_recovery,
       now() AS now,
       a.archived_count, a.last_archived_wal, a.last_archived_time,
       a.failed_count, a.last_failed_wal, a.last_failed_time, a.stats_reset,
       pg_walfile_name(CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END)
           AS current_wal,
       (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')
           AS wal_segment_size
FROM pg_stat_archiver a
"""
_READY_SQL = """
SELECT count(*) AS ready, min(modification) AS oldest_ready
FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'
"""


def segment_end_lsn(wal_name: str, segment_size: int) -> str:
    """The LSN where a WAL segment (``TTTTTTTTXXXXXXXXYYYYYYYY``) ends, as ``X/Y``."""
    log, seg = int(wal_name[8:16], 16), int(wal_name[16:24], 16)
    end = (log << 32) + (seg + 1) * segment_size
    return f"{end >> 32:X}/{end & 0xFFFFFFFF:X}"


def _interval_s(text: str) -> float:
    """``archive_timeout`` as shown by current_setting: '0', '300', '5min', '1h', '500ms'."""
    units = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}
    t = text.strip()
    for unit in sorted(units, key=len, reverse=True):
        if t.endswith(unit) and t[: -len(unit)].strip().replace(".", "", 1).isdigit():
            return float(t[: -len(unit)]) * units[unit]
    return float(t)


@dataclass
class WalArchiveObservation:
    """What the server says about its WAL archiving."""

    archive_mode: str
    command_set: bool
    archive_timeout_s: float
    in_recovery: bool
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: dt.datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: dt.datetime | None
    current_wal: str | None
    ready_segments: int
    oldest_ready_time: dt.datetime | None
    observed_at: dt.datetime
    stats_reset: dt.datetime | None = None
    segment_size: int = 16 * 1024 * 1024
    notes: list[str] = field(default_factory=list)

    @property
    def archiving_on(self) -> bool:
        return self.archive_mode in ("on", "always") and self.command_set

    @property
    def failing(self) -> bool:
        """The last attempt failed: a failure newer than the last success (or no success)."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time

    def age_s(self, when: dt.datetime | None) -> float | None:
        return None if when is None else (self.observed_at - when).total_seconds()

    def summary(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return t.isoformat(timespec="seconds") if t else None

        age_a, age_r = self.age_s(self.last_archived_time), self.age_s(self.oldest_ready_time)
        return {
            "archive_mode": self.archive_mode,
            "archive_command_or_library_set": self.command_set,
            "archive_timeout_s": self.archive_timeout_s,
            "in_recovery": self.in_recovery,
            "archived_count": self.archived_count,
            "last_archived_wal": self.last_archived_wal,
            "last_archived_time": iso(self.last_archived_time),
            "last_archived_age_s": round(age_a, 1) if age_a is not None else None,
            "failed_count": self.failed_count,
            "last_failed_wal": self.last_failed_wal,
            "last_failed_time": iso(self.last_failed_time),
            "archived_up_to_lsn": (segment_end_lsn(self.last_archived_wal, self.segment_size)
                                   if self.last_archived_wal else None),
            "current_wal": self.current_wal,
            "segments_waiting_for_archiver": self.ready_segments,
            "oldest_waiting_since": iso(self.oldest_ready_time),
            "oldest_waiting_age_s": round(age_r, 1) if age_r is not None else None,
            "stats_reset": iso(self.stats_reset),
            "observed_at": iso(self.observed_at),
            "notes": self.notes,
        }


def observe(conn: psycopg.Connection[Any], *, target: str) -> WalArchiveObservation:
    """One read of the archiver's state (two queries, both read-only)."""
    row = pg_probe.query(conn, _SQL, target=target)[0]
    ready = {"ready": 0, "oldest_ready": None}
    notes: list[str] = []
    try:
        ready = pg_probe.query(conn, _READY_SQL, target=target)[0]
    except ProbeError as exc:  # a role without pg_monitor cannot list the directory
        notes.append(f"segments waiting for the archiver not readable: {exc.problem}")
    return WalArchiveObservation(
        archive_mode=str(row["archive_mode"]),
        command_set=bool(str(row["archive_command"]).strip()
                         and str(row["archive_command"]).strip() != "(disabled)")
        or bool(str(row["archive_library"]).strip()),
        archive_timeout_s=_interval_s(str(row["archive_timeout"])),
        in_recovery=bool(row["in_recovery"]),
        archived_count=int(row["archived_count"] or 0),
        last_archived_wal=row["last_archived_wal"],
        last_archived_time=row["last_archived_time"],
        failed_count=int(row["failed_count"] or 0),
        last_failed_wal=row["last_failed_wal"],
        last_failed_time=row["last_failed_time"],
        current_wal=row["current_wal"],
        ready_segments=int(ready["ready"] or 0),
        oldest_ready_time=ready["oldest_ready"],
        observed_at=row["now"],
        stats_reset=row["stats_reset"],
        segment_size=int(row["wal_segment_size"] or 16 * 1024 * 1024),
        notes=notes,
    )
