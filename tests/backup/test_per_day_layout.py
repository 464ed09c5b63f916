"""Backups in one folder per day (``pattern: "*/database.sql"``): listing, dating by folder,
folders without the file, manifests with relative paths; the flat layout is unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from opsverify.inventory import Inventory
from opsverify.probes import backups as bp


def _day(root: Path, day: str, body: bytes | None, age_h: float) -> None:
    folder = root / day
    folder.mkdir(parents=True)
    if body is not None:
        f = folder / "database.sql"
        f.write_bytes(body)
        t = dt.datetime.now().timestamp() - age_h * 3600
        os.utime(f, (t, t))


def test_per_day_folders_are_listed_and_dated_by_folder(tmp_path: Path) -> None:
    _day(tmp_path, "20261120", b"a" * 10, 72)
    _day(tmp_path, "20261121", b"b" * 10, 48)
    _day(tmp_path, "20261122", None, 24)  # the job died before writing
    _day(tmp_path, "20261123", b"c" * 10, 1)
    (tmp_path / "20261123" / "dicom.tar.gz").write_bytes(b"x")  # other series: not matched
    (tmp_path / "database.sql").write_bytes(b"flat")  # not in a folder: not matched
    listing = bp.list_backups(tmp_path, "*/database.sql", target="t")
    assert [f.name for f in listing.files] == ["20261120/database.sql", "20261121/database.sql",
                                               "20261123/database.sql"]
    assert listing.newest is not None and listing.newest.day == dt.date(2026, 11, 23)
    assert listing.newest.day_from == "name"
    assert listing.folders_without_file == ["20261122"]
    assert listing.summary()["folders_without_file"] == ["20261122"]
    retention = bp.evaluate_retention(listing, daily=4, weekly=0, monthly=0)
    assert retention.gaps["daily"] == ["2026-11-22"]


def test_manifest_with_relative_paths(tmp_path: Path) -> None:
    _day(tmp_path, "20261123", b"dump", 1)
    digest = hashlib.sha256(b"dump").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  20261123/database.sql\n")
    listing = bp.list_backups(tmp_path, "*/database.sql", target="t")
    obs = bp.verify_manifest(listing, "SHA256SUMS", cache=bp.HashCache(), target="t",
                             newest_only=True)
    assert obs.newest_listed and obs.newest_matches


def test_flat_layout_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "database_20261123_020000.sql.gz").write_bytes(b"x")
    (tmp_path / "20261123").mkdir()
    listing = bp.list_backups(tmp_path, "database_*.sql.gz", target="t")
    assert [f.name for f in listing.files] == ["database_20261123_020000.sql.gz"]
    assert listing.folders_without_file == []


@pytest.mark.parametrize("pattern", ["a/b/c.sql", "/database.sql", "*/"])
def test_deeper_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="one folder level"):
        Inventory.model_validate({"backups": [{"name": "b", "path": "/x", "pattern": pattern}]})
