"""Backup files on disk: what exists, how old, how big, whether it reads back, checksums.

A backup is only proven by restoring it (:mod:`opsverify.probes.restore`); everything here is
the cheap part a daily run can afford on production-sized files: every read is streamed in
1 MiB chunks, nothing is loaded whole into memory, and external tools run with a timeout.

Layouts: ``pattern`` matches file names in ``path`` (``database_*.sql.gz``), or, with one
``/``, file names inside the matching folders of ``path``: ``*/database.sql`` for one folder
per day (``/backup/horalix/20261123/database.sql``). A file's ``name`` is then the relative
path (``20261123/database.sql``), so its day comes from the folder name.

Dates: a file's *time* is its mtime (what ``ls -t`` in the runbooks shows); its *day* for the
retention calendar comes from a date in its name (``database_20261123_020000.sql.gz``), else
from its mtime. Names are read as local dates, as ``date +%Y%m%d`` writes them.

>>> parse_name_date("database_20261123_020000.sql.gz")
datetime.date(2026, 11, 23)
>>> parse_name_date("uploads_2026-11-01.tar.gz")
datetime.date(2026, 11, 1)
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import gzip
import hashlib
import os
import re
import shutil
import stat
import statistics
import subprocess
import tarfile
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsverify.errors import ProbeError

CHUNK = 1024 * 1024
#: The last line pg_dump writes into a plain dump; missing means pg_dump died mid-way even if
#: the gzip stream around it was closed cleanly (``pg_dump | gzip`` with a killed pg_dump).
PLAIN_TRAILER = b"-- PostgreSQL database dump complete"
_NAME_DATE = re.compile(r"(?<!\d)(?P<y>20\d{2})-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)(?!\d{3})")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_BSD_LINE = re.compile(r"^SHA256 \((?P<name>.+)\) = (?P<hex>[0-9a-fA-F]{64})$")


# ------------------------------------------------------------------------------- listing
def parse_name_date(name: str) -> dt.date | None:
    """The first plausible ``YYYYMMDD`` / ``YYYY-MM-DD`` date in a file name, else None."""
    for m in _NAME_DATE.finditer(name):
        try:
            return dt.date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class BackupFile:
    """One backup file: where, how big, when written, and the day it counts for."""

    path: str
    name: str
    size: int
    mtime: float
    day: dt.date
    day_from: str  # "name" or "mtime"

    @property
    def modified(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.mtime).astimezone()

    def age_h(self, now: float | None = None) -> float:
        return ((now if now is not None else time.time()) - self.mtime) / 3600

    def summary(self, now: float | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "size_bytes": self.size,
            "modified": self.modified.isoformat(timespec="seconds"),
            "age_h": round(self.age_h(now), 2),
            "day": self.day.isoformat(),
            "day_from": self.day_from,
        }


@dataclass
class BackupListing:
    """Every file in ``directory`` matching ``pattern``, oldest first (by mtime)."""

    directory: str
    pattern: str
    exists: bool
    files: list[BackupFile] = field(default_factory=list)
    observed_at: float = field(default_factory=time.time)
    #: per-day layout: matching folders that hold no matching file (a job that died early)
    folders_without_file: list[str] = field(default_factory=list)

    @property
    def newest(self) -> BackupFile | None:
        return self.files[-1] if self.files else None

    def previous(self, n: int) -> list[BackupFile]:
        """The ``n`` files before the newest, newest first."""
        return list(reversed(self.files[:-1]))[:n]

    def summary(self, last: int = 7) -> dict[str, Any]:
        newest = self.newest
        return {
            "directory": self.directory,
            "pattern": self.pattern,
            "directory_exists": self.exists,
            "files_matching": len(self.files),
            "newest": newest.summary(self.observed_at) if newest else None,
            "last_files": [f.summary(self.observed_at) for f in reversed(self.files[-last:])],
            **({"folders_without_file": self.folders_without_file[-last:]}
               if self.folders_without_file else {}),
        }


def list_backups(directory: str | Path, pattern: str, *, target: str) -> BackupListing:
    """List the backups of one inventory item.

    A missing directory is an observation (no backups there), not an error; a directory that
    exists but cannot be read is a ProbeError: we cannot tell whether backups exist.
    """
    d = Path(directory)
    if not d.exists():
        return BackupListing(str(d), pattern, exists=False)
    if not d.is_dir():
        raise ProbeError(target, f"{d} is not a directory")
    files: list[BackupFile] = []
    try:
        entries = list(os.scandir(d))
    except OSError as exc:
        raise ProbeError(target, f"cannot list {d}: {exc.strerror}") from None
    folder_pattern, _, file_pattern = pattern.rpartition("/")
    candidates: list[tuple[str, os.DirEntry[str]]] = []
    empty_folders: list[str] = []
    if folder_pattern:
        for folder in sorted(entries, key=lambda e: e.name):
            try:
                if not (fnmatch.fnmatchcase(folder.name, folder_pattern) and folder.is_dir()):
                    continue
                inner = list(os.scandir(folder.path))
            except FileNotFoundError:
                continue  # removed while listing (rotation)
            except OSError as exc:
                raise ProbeError(target, f"cannot list {folder.path}: {exc.strerror}") from None
            found = [(f"{folder.name}/{e.name}", e) for e in inner
                     if fnmatch.fnmatchcase(e.name, file_pattern)]
            candidates += found
            if not found:
                empty_folders.append(folder.name)
    else:
        candidates = [(e.name, e) for e in entries if fnmatch.fnmatchcase(e.name, pattern)]
    for name, entry in candidates:
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
        except OSError:
            continue  # removed while listing (rotation): not ours to report
        named = parse_name_date(name)
        day = named or dt.datetime.fromtimestamp(st.st_mtime).date()
        files.append(BackupFile(entry.path, name, st.st_size, st.st_mtime, day,
                                "name" if named else "mtime"))
    files.sort(key=lambda f: (f.mtime, f.name))
    return BackupListing(str(d), pattern, exists=True, files=files,
                         folders_without_file=empty_folders)


# ---------------------------------------------------------------------------------- size
@dataclass
class SizeObservation:
    newest: str
    newest_bytes: int
    previous: list[dict[str, Any]]
    median_previous_bytes: float | None
    ratio_to_median: float | None
    min_size_bytes: int | None

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def size_history(listing: BackupListing, *, min_size: int | None, history: int = 7
                 ) -> SizeObservation:
    """The newest size against the median of the previous ``history`` files (when >= 3)."""
    newest = listing.newest
    assert newest is not None
    prev = listing.previous(history)
    median = statistics.median(f.size for f in prev) if len(prev) >= 3 else None
    ratio = (newest.size / median) if median else None
    return SizeObservation(
        newest=newest.name,
        newest_bytes=newest.size,
        previous=[{"name": f.name, "size_bytes": f.size} for f in prev],
        median_previous_bytes=median,
        ratio_to_median=round(ratio, 4) if ratio is not None else None,
        min_size_bytes=min_size,
    )


# ------------------------------------------------------------------------------ hashing
class HashCache:
    """SHA-256 of files, remembered per (path, size, mtime, ctime, inode) for one run.

    Several checks read the same newest file (checksum, mirror); hashing a 10 GB dump once
    instead of three times is the difference between a fast and a slow daily run.
    """

    def __init__(self) -> None:
        self._data: dict[tuple[str, int, int, int, int], str] = {}
        self._lock = threading.Lock()

    def sha256(self, path: str | Path, *, target: str) -> str:
        p = Path(path)
        try:
            st = p.stat()
        except OSError as exc:
            raise ProbeError(target, f"cannot stat {p}: {exc.strerror}") from None
        # ctime too: a rewrite that restores the mtime (touch -r, os.utime) still changes it
        key = (str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        with self._lock:
            if key in self._data:
                return self._data[key]
        digest = sha256_file(p, target=target)
        with self._lock:
            self._data[key] = digest
        return digest


def sha256_file(path: str | Path, *, target: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise ProbeError(target, f"cannot read {path}: {exc.strerror}") from None
    return h.hexdigest()


# ---------------------------------------------------------------------------- checksums
def parse_manifest(text: str) -> dict[str, str]:
    """``sha256sum`` (``HEX  name`` / ``HEX *name``) or BSD (``SHA256 (name) = HEX``) lines.

    >>> parse_manifest("%s  a.gz\\nSHA256 (b.gz) = %s\\n" % ("0" * 64, "f" * 64))["b.gz"][:4]
    'ffff'
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        bsd = _BSD_LINE.match(line)
        if bsd:
            out[bsd.group("name")] = bsd.group("hex").lower()
            continue
        parts = line.split(None, 1)
        if len(parts) == 2 and _HEX64.match(parts[0]):
            name = parts[1].lstrip("*").strip()
            out[name.removeprefix("./")] = parts[0].lower()
    return out


@dataclass
class ChecksumObservation:
    manifest: str
    manifest_exists: bool
    entries_for_pattern: int = 0
    checked: list[dict[str, Any]] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing_listed: list[str] = field(default_factory=list)  # listed, no longer on disk
    newest: str | None = None
    newest_listed: bool = False
    newest_matches: bool | None = None

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _not_regular(path: Path) -> str:
    """What a path that exists but is no regular file is, in words."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a special file"


def verify_manifest(listing: BackupListing, manifest_name: str, *, cache: HashCache,
                    target: str, newest_only: bool) -> ChecksumObservation:
    """Compare files of this item with the manifest in the same folder.

    ``newest_only``: hash only the newest backup (the daily check); otherwise every listed
    file still on disk (the weekly sweep). Listed files that rotation removed are reported,
    not failed (``sha256sum -c --ignore-missing``): retention has its own check.
    """
    mpath = Path(listing.directory) / manifest_name
    obs = ChecksumObservation(manifest=str(mpath), manifest_exists=mpath.is_file())
    newest = listing.newest
    obs.newest = newest.name if newest else None
    if not obs.manifest_exists:
        if os.path.lexists(mpath):
            # Present but a FIFO (opening it would block), a directory, a dangling link or a
            # symlink loop: "does not exist" would send the engineer after a file that is there.
            raise ProbeError(target, f"checksum manifest {mpath} is not a readable regular "
                                     f"file ({_not_regular(mpath)})")
        return obs
    try:
        with open(mpath, encoding="utf-8", errors="replace") as fh:
            text = fh.read(64 * 1024 * 1024)
    except OSError as exc:
        raise ProbeError(target, f"cannot read {mpath}: {exc.strerror}") from None
    # per-day layout: the manifest lists relative paths (``sha256sum */database.sql``)
    per_day = "/" in listing.pattern
    manifest = {n: h for n, h in parse_manifest(text).items()
                if fnmatch.fnmatchcase(n if per_day else Path(n).name, listing.pattern)}
    obs.entries_for_pattern = len(manifest)
    on_disk = {f.name: f for f in listing.files}
    if newest is not None:
        obs.newest_listed = newest.name in manifest
    names = [newest.name] if (newest_only and newest is not None) else sorted(manifest)
    for name in names:
        expected = manifest.get(name)
        f = on_disk.get(name)
        if expected is None:
            continue
        if f is None:
            obs.missing_listed.append(name)
            continue
        actual = cache.sha256(f.path, target=target)
        ok = actual == expected
        obs.checked.append({"name": name, "expected": expected, "actual": actual, "ok": ok})
        if not ok:
            obs.mismatched.append(name)
        if newest is not None and name == newest.name:
            obs.newest_matches = ok
    return obs


# ---------------------------------------------------------------------------- integrity
@dataclass
class IntegrityObservation:
    """Whether a backup file reads back completely, in the way its format allows."""

    file: str
    format: str
    size_bytes: int
    ok: bool
    problem: str | None = None
    uncompressed_bytes: int | None = None
    elapsed_s: float = 0.0
    trailer_found: bool | None = None
    members: int | None = None
    member_sample: list[str] = field(default_factory=list)
    toc_entries: int | None = None
    table_data_entries: int | None = None
    expected_paths: dict[str, bool] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _open_for_read(path: str, target: str) -> Any:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ProbeError(target, f"cannot open {path}: {exc.strerror}") from None


def check_gzip(path: str, *, target: str, want_trailer: bool) -> IntegrityObservation:
    """Decompress the whole file (every member, CRC and length checked), keep only the tail."""
    t0 = time.monotonic()
    size = os.path.getsize(path)
    obs = IntegrityObservation(file=path, format="gzip", size_bytes=size, ok=False)
    total = 0
    tail = b""
    raw = _open_for_read(path, target)
    try:
        with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            while chunk := gz.read1(CHUNK):  # read1: progress is counted up to the break
                total += len(chunk)
                tail = (tail + chunk[-4096:])[-4096:]
    except EOFError:
        obs.problem = ("gzip stream ends before its end-of-stream marker after "
                       f"{total} uncompressed bytes: the file is truncated")
    except (gzip.BadGzipFile, zlib.error) as exc:
        obs.problem = f"gzip data is corrupt after {total} uncompressed bytes: {exc}"
    except OSError as exc:
        # the storage, not the gzip: "corrupt" would send the engineer to the backup job
        obs.problem = (f"reading the file failed after {total} uncompressed bytes: "
                       f"{exc.strerror or exc} (storage or filesystem error)")
    else:
        obs.ok = True
    obs.uncompressed_bytes = total
    if obs.ok and size == 0:
        # Python's gzip reads an empty file as an empty stream; "gzip is intact" would be wrong
        obs.ok = False
        obs.problem = "the file is empty (0 bytes): not even a gzip header"
    if obs.ok and want_trailer:
        obs.trailer_found = PLAIN_TRAILER in tail
        if not obs.trailer_found:
            obs.ok = False
            obs.problem = ("gzip is intact but the SQL inside lacks pg_dump's closing line "
                           f"'{PLAIN_TRAILER.decode()}': pg_dump stopped before finishing")
    obs.elapsed_s = round(time.monotonic() - t0, 3)
    return obs


def check_plain(path: str, *, target: str) -> IntegrityObservation:
    """An uncompressed plain dump: pg_dump's closing line must be in its last 4 KiB."""
    size = os.path.getsize(path)
    obs = IntegrityObservation(file=path, format="sql", size_bytes=size, ok=False)
    with _open_for_read(path, target) as fh:
        fh.seek(max(0, size - 4096))
        obs.trailer_found = PLAIN_TRAILER in fh.read()
    obs.ok = bool(obs.trailer_found)
    if not obs.ok:
        obs.problem = f"the dump lacks pg_dump's closing line '{PLAIN_TRAILER.decode()}'"
    return obs


def check_tar_gz(path: str, *, target: str, expect_paths: Iterable[str] = ()
                 ) -> IntegrityObservation:
    """Read every member of a .tar.gz as a stream (data included, so CRC and length are
    checked at the end); note which expected paths (prefixes) were seen."""
    t0 = time.monotonic()
    size = os.path.getsize(path)
    wanted = {p.rstrip("/"): False for p in expect_paths}
    obs = IntegrityObservation(file=path, format="tar.gz", size_bytes=size, ok=False,
                               members=0)
    total = 0
    raw = _open_for_read(path, target)
    try:
        with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tf:
                for member in tf:
                    obs.members = (obs.members or 0) + 1
                    name = member.name.removeprefix("./").rstrip("/")
                    if len(obs.member_sample) < 20:
                        obs.member_sample.append(member.name)
                    for w in wanted:
                        if not wanted[w] and (name == w or name.startswith(w + "/")):
                            wanted[w] = True
                    if member.isfile():
                        fh = tf.extractfile(member)
                        if fh is not None:
                            while chunk := fh.read(CHUNK):
                                total += len(chunk)
            # The tar reader stops at the end-of-archive blocks; the gzip trailer (CRC32 and
            # length of everything) is only verified by decompressing to the very end.
            while gz.read(CHUNK):
                pass
    except (tarfile.ReadError, EOFError) as exc:
        text = str(exc) or "unexpected end of data"
        if isinstance(exc, EOFError) or "end of" in text:
            obs.problem = (f"archive ends after {obs.members} members ({total} bytes of file "
                           f"data): the file is truncated ({text})")
        else:
            obs.problem = (f"archive data is corrupt after {obs.members} members ({total} "
                           f"bytes of file data): {text}")
    except (gzip.BadGzipFile, zlib.error, tarfile.TarError) as exc:
        obs.problem = f"archive data is corrupt after {obs.members} members: {exc}"
    except OSError as exc:
        obs.problem = (f"reading the archive failed after {obs.members} members: "
                       f"{exc.strerror or exc} (storage or filesystem error)")
    else:
        obs.ok = True
    obs.uncompressed_bytes = total
    obs.expected_paths = wanted
    obs.elapsed_s = round(time.monotonic() - t0, 3)
    return obs


def find_pg_tool(name: str) -> str | None:
    """``pg_restore``/``psql``/``pg_dump`` from PATH, else the newest /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return str(versions[-1]) if versions else None


def _tail(data: bytes, lines: int = 3) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:])[:500] if text else "no output"


def check_custom(path: str, *, target: str, timeout_s: float) -> IntegrityObservation:
    """A custom-format dump: ``pg_restore --list`` reads the table of contents; then
    ``pg_restore --file=/dev/null`` reads and decompresses every data block without a server.

    ``--list`` alone passes on a truncated dump (the TOC is at the start of the file), so the
    second pass is what proves the data is all there.
    """
    t0 = time.monotonic()
    size = os.path.getsize(path)
    obs = IntegrityObservation(file=path, format="pg_custom", size_bytes=size, ok=False)
    tool = find_pg_tool("pg_restore")
    if tool is None:
        raise ProbeError(target, "pg_restore not found: install postgresql-client")
    try:
        listed = subprocess.run([tool, "--list", path], capture_output=True, timeout=timeout_s,
                                check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(target, f"pg_restore --list took longer than {timeout_s:.0f}s") from None
    if listed.returncode != 0:
        obs.problem = f"pg_restore --list failed: {_tail(listed.stderr)}"
        obs.elapsed_s = round(time.monotonic() - t0, 3)
        return obs
    toc = [ln for ln in listed.stdout.decode("utf-8", "replace").splitlines()
           if ln and not ln.startswith(";")]
    obs.toc_entries = len(toc)
    obs.table_data_entries = sum(" TABLE DATA " in ln for ln in toc)
    left = max(1.0, timeout_s - (time.monotonic() - t0))
    try:
        full = subprocess.run([tool, "--file=/dev/null", path], capture_output=True,
                              timeout=left, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(target, f"reading the dump through pg_restore took longer than "
                                 f"{timeout_s:.0f}s") from None
    if full.returncode != 0:
        obs.problem = f"pg_restore could not read every data block: {_tail(full.stderr)}"
    else:
        obs.ok = True
    obs.elapsed_s = round(time.monotonic() - t0, 3)
    return obs


def check_integrity(path: str, fmt: str, *, target: str, timeout_s: float,
                    expect_paths: Iterable[str] = ()) -> IntegrityObservation:
    """Dispatch on the inventory's ``format``."""
    if fmt == "pg_plain_gz":
        return check_gzip(path, target=target, want_trailer=True)
    if fmt == "pg_plain":
        return check_plain(path, target=target)
    if fmt == "pg_custom":
        return check_custom(path, target=target, timeout_s=timeout_s)
    if fmt == "tar_gz":
        return check_tar_gz(path, target=target, expect_paths=expect_paths)
    raise ProbeError(target, f"unknown backup format {fmt!r}")


# ---------------------------------------------------------------------------- retention
def _month_add(day: dt.date, months: int) -> dt.date:
    idx = day.year * 12 + (day.month - 1) + months
    return dt.date(idx // 12, idx % 12 + 1, 1)


@dataclass
class RetentionObservation:
    """The calendar a policy expects, what fills it, and what lies beyond it."""

    anchor: str | None
    policy: dict[str, int]
    keep_from: str | None
    slots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gaps: dict[str, list[str]] = field(default_factory=dict)
    beyond_policy: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gap_count(self) -> int:
        return sum(len(v) for v in self.gaps.values())

    def summary(self) -> dict[str, Any]:
        return {**self.__dict__, "gap_count": self.gap_count}


def evaluate_retention(listing: BackupListing, *, daily: int, weekly: int, monthly: int
                       ) -> RetentionObservation:
    """Daily / weekly (ISO week) / monthly slots ending at the newest backup's day.

    Anchoring on the newest backup (not today) keeps the concerns apart: a backup that did not
    run last night is the freshness check's finding, not a retention gap. A slot is filled by
    any file whose day falls in it; files older than the oldest slot of every tier are kept
    beyond the policy.
    """
    policy = {"daily": daily, "weekly": weekly, "monthly": monthly}
    newest = listing.newest
    if newest is None:
        return RetentionObservation(None, policy, None)
    anchor = max(f.day for f in listing.files)
    days = {f.day for f in listing.files}
    by_day: dict[dt.date, list[str]] = {}
    for f in listing.files:
        by_day.setdefault(f.day, []).append(f.name)
    obs = RetentionObservation(anchor.isoformat(), policy, None)
    starts: list[dt.date] = []
    if daily:
        slots = []
        for i in range(daily):
            d = anchor - dt.timedelta(days=i)
            slots.append({"slot": d.isoformat(), "files": by_day.get(d, [])})
        obs.slots["daily"] = slots
        obs.gaps["daily"] = [s["slot"] for s in slots if not s["files"]]
        starts.append(anchor - dt.timedelta(days=daily - 1))
    if weekly:
        monday = anchor - dt.timedelta(days=anchor.weekday())
        slots = []
        for i in range(weekly):
            start = monday - dt.timedelta(weeks=i)
            names = [n for d in days if start <= d < start + dt.timedelta(days=7)
                     for n in by_day[d]]
            iso = start.isocalendar()
            slots.append({"slot": f"{iso.year}-W{iso.week:02d}", "from": start.isoformat(),
                          "files": sorted(names)})
        obs.slots["weekly"] = slots
        obs.gaps["weekly"] = [s["slot"] for s in slots if not s["files"]]
        starts.append(monday - dt.timedelta(weeks=weekly - 1))
    if monthly:
        first = anchor.replace(day=1)
        slots = []
        for i in range(monthly):
            start = _month_add(first, -i)
            end = _month_add(start, 1)
            names = [n for d in days if start <= d < end for n in by_day[d]]
            slots.append({"slot": start.strftime("%Y-%m"), "files": sorted(names)})
        obs.slots["monthly"] = slots
        obs.gaps["monthly"] = [s["slot"] for s in slots if not s["files"]]
        starts.append(_month_add(first, -(monthly - 1)))
    if starts:
        keep_from = min(starts)
        obs.keep_from = keep_from.isoformat()
        obs.beyond_policy = [{"name": f.name, "day": f.day.isoformat(), "size_bytes": f.size}
                             for f in listing.files if f.day < keep_from]
    return obs
