"""Unit tests of opsverify.probes.backups on real files in a temp directory (fast, no server)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from opsverify.probes import backups as bp

TRAILER = b"\n--\n-- PostgreSQL database dump complete\n--\n\n"


def _put(path: Path, data: bytes, when: dt.datetime) -> Path:
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _dump(sql: bytes = b"CREATE TABLE t (a int);\n") -> bytes:
    return gzip.compress(sql + TRAILER)


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_name_dates() -> None:
    assert bp.parse_name_date("database_20261123_020000.sql.gz") == dt.date(2026, 11, 23)
    assert bp.parse_name_date("backup_production_2026-02-03.sql.gz") == dt.date(2026, 2, 3)
    assert bp.parse_name_date("database_latest.sql.gz") is None
    assert bp.parse_name_date("db_20261399.sql.gz") is None  # not a date


def test_listing_orders_by_mtime_and_takes_day_from_name(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 23, 12)
    _put(tmp_path / "database_20261122_020000.sql.gz", b"x", now - dt.timedelta(hours=34))
    _put(tmp_path / "database_latest.sql.gz", b"xy", now)
    _put(tmp_path / "other.txt", b"z", now)
    listing = bp.list_backups(tmp_path, "database_*.sql.gz", target="t")
    assert [f.name for f in listing.files] == ["database_20261122_020000.sql.gz",
                                               "database_latest.sql.gz"]
    assert listing.files[0].day_from == "name" and listing.files[1].day_from == "mtime"
    assert bp.list_backups(tmp_path / "nope", "*", target="t").exists is False


def test_size_history_median_of_previous(tmp_path: Path) -> None:
    base = dt.datetime(2026, 11, 1)
    for i, size in enumerate([100, 100, 120, 90, 100, 40]):
        _put(tmp_path / f"d_{i}.gz", b"x" * size, base + dt.timedelta(days=i))
    obs = bp.size_history(bp.list_backups(tmp_path, "d_*.gz", target="t"), min_size=None)
    assert obs.newest_bytes == 40 and obs.median_previous_bytes == 100
    assert obs.ratio_to_median == 0.4


def test_gzip_good_truncated_corrupt_and_unfinished(tmp_path: Path) -> None:
    body = os.urandom(300_000).hex().encode()  # big enough to span several deflate blocks
    good = _put(tmp_path / "good.sql.gz", _dump(body), dt.datetime.now())
    assert bp.check_gzip(str(good), target="t", want_trailer=True).ok
    data = good.read_bytes()
    cut = _put(tmp_path / "cut.sql.gz", data[: len(data) // 2], dt.datetime.now())
    obs = bp.check_gzip(str(cut), target="t", want_trailer=True)
    assert not obs.ok and "truncated" in obs.problem
    bad = bytearray(data)
    bad[-6] ^= 0xFF  # inside the CRC32 trailer
    crc = _put(tmp_path / "crc.sql.gz", bytes(bad), dt.datetime.now())
    obs = bp.check_gzip(str(crc), target="t", want_trailer=True)
    assert not obs.ok and "corrupt" in obs.problem
    # pg_dump killed mid-way, gzip closed the stream cleanly: only the trailer tells.
    unfinished = _put(tmp_path / "unf.sql.gz", gzip.compress(body), dt.datetime.now())
    obs = bp.check_gzip(str(unfinished), target="t", want_trailer=True)
    assert not obs.ok and "closing line" in obs.problem
    # concatenated gzip members (pigz, cat a.gz b.gz) are one valid stream
    multi = _put(tmp_path / "multi.sql.gz", gzip.compress(b"A;\n") + _dump(), dt.datetime.now())
    assert bp.check_gzip(str(multi), target="t", want_trailer=True).ok


def test_tar_members_expected_paths_and_damage(tmp_path: Path) -> None:
    members = {"uploads/studies/a.dcm": os.urandom(50_000), "uploads/b.txt": b"b"}
    good = _put(tmp_path / "u.tar.gz", _tar(members), dt.datetime.now())
    obs = bp.check_tar_gz(str(good), target="t", expect_paths=["uploads/studies", "missing/"])
    assert obs.ok and obs.members == 2
    assert obs.expected_paths == {"uploads/studies": True, "missing": False}
    data = good.read_bytes()
    cut = _put(tmp_path / "cut.tar.gz", data[: len(data) // 2], dt.datetime.now())
    obs = bp.check_tar_gz(str(cut), target="t")
    assert not obs.ok and "truncated" in obs.problem
    bad = bytearray(data)
    bad[-6] ^= 0xFF
    crc = _put(tmp_path / "crc.tar.gz", bytes(bad), dt.datetime.now())
    obs = bp.check_tar_gz(str(crc), target="t")
    assert not obs.ok and "corrupt" in obs.problem


def test_manifest_formats_and_verification(tmp_path: Path) -> None:
    now = dt.datetime.now()
    a = _put(tmp_path / "db_1.gz", b"one", now - dt.timedelta(days=1))
    b = _put(tmp_path / "db_2.gz", b"two", now)
    ha, hb = (bp.sha256_file(p, target="t") for p in (a, b))
    (tmp_path / "SHA256SUMS").write_text(
        f"{ha} *db_1.gz\nSHA256 (db_2.gz) = {hb.upper()}\n{'0' * 64}  db_0.gz\n")
    listing = bp.list_backups(tmp_path, "db_*.gz", target="t")
    cache = bp.HashCache()
    obs = bp.verify_manifest(listing, "SHA256SUMS", cache=cache, target="t", newest_only=False)
    assert obs.newest_listed and obs.newest_matches and not obs.mismatched
    assert obs.missing_listed == ["db_0.gz"]  # rotated away: reported, not failed
    _put(b, b"TWO", now)
    obs = bp.verify_manifest(bp.list_backups(tmp_path, "db_*.gz", target="t"), "SHA256SUMS",
                             cache=cache, target="t", newest_only=True)
    assert obs.newest_matches is False and obs.mismatched == ["db_2.gz"]
    assert len(obs.checked) == 1  # the daily check hashes the newest only


def _series(tmp_path: Path, days: list[dt.date]) -> bp.BackupListing:
    for d in days:
        _put(tmp_path / f"db_{d:%Y%m%d}_020000.gz", b"x",
             dt.datetime.combine(d, dt.time(2)))
    return bp.list_backups(tmp_path, "db_*.gz", target="t")


@pytest.fixture
def anchor() -> dt.date:
    return dt.date(2026, 11, 23)  # a Monday


def test_retention_filled_gap_and_beyond(tmp_path: Path, anchor: dt.date) -> None:
    days = [anchor - dt.timedelta(days=i) for i in range(7)]
    days += [anchor - dt.timedelta(weeks=k) for k in range(1, 4)]
    days += [dt.date(2026, m, 1) for m in (8, 9, 10)]
    obs = bp.evaluate_retention(_series(tmp_path, days), daily=7, weekly=4, monthly=4)
    assert obs.gap_count == 0 and obs.beyond_policy == []
    assert obs.keep_from == "2026-08-01"
    (tmp_path / f"db_{anchor - dt.timedelta(days=3):%Y%m%d}_020000.gz").unlink()
    _put(tmp_path / "db_20260715_020000.gz", b"x", dt.datetime(2026, 7, 15, 2))
    obs = bp.evaluate_retention(bp.list_backups(tmp_path, "db_*.gz", target="t"),
                                daily=7, weekly=4, monthly=4)
    assert obs.gaps["daily"] == ["2026-11-20"]
    assert [e["name"] for e in obs.beyond_policy] == ["db_20260715_020000.gz"]


def test_retention_weekly_and_monthly_gaps(tmp_path: Path, anchor: dt.date) -> None:
    obs = bp.evaluate_retention(_series(tmp_path, [anchor, anchor - dt.timedelta(weeks=2)]),
                                daily=0, weekly=3, monthly=2)
    assert obs.gaps["weekly"] == ["2026-W47"]
    assert obs.gaps["monthly"] == ["2026-10"]
