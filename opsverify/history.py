"""Measurements kept between runs, for checks that judge change rather than a level.

Some runbook questions are about trends: "has the database grown unusually since last
week?", "did Redis evict keys since yesterday?", "is the restart count growing?". A single
observation cannot answer them, so such checks hand their current measurement to
:meth:`History.exchange`, which returns the previous one and stores the current one.

Where it lives: ``history_dir`` in the inventory (relative to the inventory file), else
``reports/history/<environment>`` under the project's root directory. One JSON file per
check and target keeps xdist workers off each other's files; each update takes an exclusive
``flock`` and replaces the file atomically, so a killed run never leaves half a file. Only the
last :data:`KEEP` records are kept (enough for a trend line in the evidence).

Measurements are numbers only, by design: they are attached as evidence and must never hold a
secret.

>>> import tempfile
>>> h = History(Path(tempfile.mkdtemp()))
>>> h.exchange("DB-009/main", {"bytes": 100.0}) is None
True
>>> h.exchange("DB-009/main", {"bytes": 150.0}).values
{'bytes': 100.0}
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "opsverify-history/1"
KEEP = 100
#: A history file holds at most KEEP small records; anything larger is not ours.
MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One stored measurement: when it was taken and the numbers."""

    at: dt.datetime
    values: dict[str, float]

    def age_s(self, now: dt.datetime | None = None) -> float:
        return ((now or dt.datetime.now(dt.UTC)) - self.at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(timespec="seconds"), **self.values}


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("._") or "_"


class History:
    """The per-environment store of measurements between runs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, key: str) -> Path:
        return self.directory / f"{_safe(key)}.json"

    def _read(self, path: Path) -> list[Record]:
        """Records in ``path``; an unreadable or foreign file counts as no history."""
        try:
            if path.stat().st_size > MAX_BYTES:
                return []
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                return []
            out = []
            for r in doc.get("records", []):
                at = dt.datetime.fromisoformat(r["at"])
                vals = {k: float(v) for k, v in r.items() if k != "at"}
                out.append(Record(at, vals))
            return out
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []

    def records(self, key: str) -> list[Record]:
        """Stored records for ``key``, oldest first."""
        return self._read(self._file(key))

    def exchange(self, key: str, values: dict[str, float],
                 now: dt.datetime | None = None) -> Record | None:
        """Store ``values`` as the newest record of ``key``; return the one before it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._file(key)
        lock = path.with_suffix(".lock")
        with open(lock, "a") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            records = self._read(path)
            previous = records[-1] if records else None
            records.append(Record(now or dt.datetime.now(dt.UTC),
                                  {k: float(v) for k, v in values.items()}))
            doc = {"format": FORMAT, "key": key,
                   "records": [r.as_dict() for r in records[-KEEP:]]}
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
            os.replace(tmp, path)
        return previous


def directory_for(inventory: Any, rootdir: Path) -> Path:
    """Where ``inventory``'s history lives (see the module docstring)."""
    configured = getattr(inventory, "history_dir", None)
    if configured:
        return Path(inventory.resolve_path(configured))
    return rootdir / "reports" / "history" / _safe(inventory.environment)
