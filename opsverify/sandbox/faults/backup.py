"""Backup faults: what real backup jobs and storage do wrong, on the sandbox's real files.

Each fault changes files in ``backups/app`` (and its mirror) the way the failure would: a job
that stopped, a pg_dump cut short, a dump with a table's data left out, bit rot after the
checksum was written, a rotation script deleting too much or nothing. Faults that model the
*job* producing a bad file publish it as the job would (manifest line and mirror copy
rewritten), so only the checks that should notice do.

Every file a fault touches is first saved under ``backups/stash/<fault>`` with its mtime, and
every file it adds is recorded; ``revert`` puts the saved files back and removes the added
ones, and does nothing when nothing is stashed (idempotent).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from opsverify.sandbox import backups as bk
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

AREA = "backup"


# ---------------------------------------------------------------------------------- stash
def _root(sb: Sandbox) -> Path:
    return Path(bk.info(sb)["dir"]).parent


def _stash(sb: Sandbox, fault: str) -> Path:
    return Path(bk.info(sb)["stash"]) / fault


def _record(sb: Sandbox, fault: str) -> dict[str, list[str]]:
    f = _stash(sb, fault) / "record.json"
    return json.loads(f.read_text()) if f.exists() else {"saved": [], "created": []}


def _write_record(sb: Sandbox, fault: str, rec: dict[str, list[str]]) -> None:
    d = _stash(sb, fault)
    d.mkdir(parents=True, exist_ok=True)
    (d / "record.json").write_text(json.dumps(rec))


def _save(sb: Sandbox, fault: str, path: Path) -> None:
    """Keep the original of ``path`` (content and mtime) before the fault changes it."""
    rec = _record(sb, fault)
    rel = str(path.relative_to(_root(sb)))
    if rel in rec["saved"] or rel in rec["created"]:
        return
    if path.exists():
        dst = _stash(sb, fault) / "files" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst)
        rec["saved"].append(rel)
    else:
        rec["created"].append(rel)
    _write_record(sb, fault, rec)


def _restore_stash(sb: Sandbox, fault: str) -> None:
    d = _stash(sb, fault)
    if not d.exists():
        return
    rec = _record(sb, fault)
    root = _root(sb)
    for rel in rec["created"]:
        (root / rel).unlink(missing_ok=True)
    for rel in rec["saved"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(d / "files" / rel, root / rel)
    shutil.rmtree(d)


def _newest(sb: Sandbox, series: str) -> Path:
    files = bk.series(sb, series)
    if not files:
        raise SandboxError(f"no {series} backups to break")
    return files[-1]


def _replace_keep_mtime(path: Path, data_writer: Callable[[Path], object]) -> None:
    """Rewrite ``path`` through a temp file, keeping its mtime (it was 'written' then)."""
    st = path.stat()
    tmp = path.with_name(path.name + ".tmp")
    data_writer(tmp)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    tmp.replace(path)


def _manifest(sb: Sandbox) -> Path:
    return bk.backup_dir(sb) / bk.MANIFEST


def _mirror_copy(sb: Sandbox, path: Path) -> Path:
    return bk.mirror_dir(sb) / path.name


def _job_wrote(sb: Sandbox, fault: str, path: Path, writer: Callable[[Path], object]) -> None:
    """The job produced ``path`` with ``writer`` and published it (manifest, mirror)."""
    for p in (path, _manifest(sb), _mirror_copy(sb, path)):
        _save(sb, fault, p)
    _replace_keep_mtime(path, writer)
    bk.publish(sb, path)


# ---------------------------------------------------------------------------------- faults
def _truncate_to(src: Path, fraction: float) -> Callable[[Path], None]:
    data = src.read_bytes()

    def write(tmp: Path) -> None:
        tmp.write_bytes(data[: int(len(data) * fraction)])

    return write


def _stale_inject(sb: Sandbox) -> None:
    """The job stopped two days ago: the last two days of every series are gone."""
    cutoff = dt.datetime.combine(dt.date.today() - dt.timedelta(days=1), dt.time()).timestamp()
    for name in bk.SERIES:
        for p in bk.series(sb, name):
            if p.stat().st_mtime >= cutoff:
                _save(sb, "backup_stale", p)
                p.unlink()


def _truncated_inject(sb: Sandbox) -> None:
    p = _newest(sb, "database")
    _job_wrote(sb, "backup_truncated", p, _truncate_to(p, 0.6))


def _custom_truncated_inject(sb: Sandbox) -> None:
    p = _newest(sb, "database-custom")
    _job_wrote(sb, "custom_dump_truncated", p, _truncate_to(p, 0.6))


def _schema_only_inject(sb: Sandbox) -> None:
    """The job's pg_dump runs with --schema-only: a valid dump that restores, with no rows."""
    p = _newest(sb, "database")
    _job_wrote(sb, "backup_schema_only", p,
               lambda tmp: bk.real_dump(sb, tmp, "pg_plain_gz", ["--schema-only"]))


def _size_collapse_inject(sb: Sandbox) -> None:
    """The job's table filter leaves out the data of the biggest table (studies): a real,
    valid pg_dump, a fraction of yesterday's size."""
    p = _newest(sb, "database")
    _job_wrote(sb, "backup_size_collapse", p,
               lambda tmp: bk.real_dump(sb, tmp, "pg_plain_gz",
                                        ["--exclude-table-data=public.studies"]))


def _checksum_mismatch_inject(sb: Sandbox) -> None:
    """Silent change after the manifest was written: one value in the dump differs (still a
    valid gzip of a restorable dump); the mirror job copied the changed file."""
    p = _newest(sb, "database")
    _save(sb, "backup_checksum_mismatch", p)
    _save(sb, "backup_checksum_mismatch", _mirror_copy(sb, p))
    text = gzip.decompress(p.read_bytes())
    changed = text.replace(b"user1@sandbox.test", b"user1@sandbox.tesx", 1)
    if changed == text:
        raise SandboxError("the dump has no row to alter")

    def write(tmp: Path) -> None:
        tmp.write_bytes(gzip.compress(changed, 6))

    _replace_keep_mtime(p, write)
    shutil.copy2(p, _mirror_copy(sb, p))


def _retention_gap_inject(sb: Sandbox) -> None:
    """Three dailies (8 to 10 days back) of the plain series were deleted."""
    days = {(dt.date.today() - dt.timedelta(days=i)).strftime("%Y%m%d") for i in (8, 9, 10)}
    for p in bk.series(sb, "database"):
        if p.name.split("_")[1] in days:
            _save(sb, "backup_retention_gap", p)
            p.unlink()


def _over_retention_inject(sb: Sandbox) -> None:
    """Rotation stopped deleting: a dump from 15 months ago is still there."""
    newest = _newest(sb, "database")
    when = dt.datetime.combine(dt.date.today() - dt.timedelta(days=455), dt.time(2, 0))
    old = newest.with_name(f"database_{bk.stamp(when)}.sql.gz")
    _save(sb, "backup_over_retention", old)
    shutil.copyfile(newest, old)
    os.utime(old, (when.timestamp(), when.timestamp()))


def _uploads_corrupt_inject(sb: Sandbox) -> None:
    """Bytes near the start of the newest upload archive are damaged (as written): nothing
    after the damage reads back, so the upload directory is not in it either."""
    p = _newest(sb, "uploads")
    data = bytearray(p.read_bytes())

    def write(tmp: Path) -> None:
        for i in range(32, 96):  # past the 10-byte gzip header: inside the deflate stream
            data[i] ^= 0xFF
        tmp.write_bytes(bytes(data))

    _job_wrote(sb, "uploads_archive_corrupt", p, write)


def _mirror_missing_inject(sb: Sandbox) -> None:
    """The copy job stopped after yesterday: the mirror lacks the newest of every series."""
    for name in bk.SERIES:
        copy = _mirror_copy(sb, _newest(sb, name))
        if copy.exists():
            _save(sb, "backup_mirror_missing", copy)
            copy.unlink()


def _fault(name: str, description: str, inject: Callable[[Sandbox], None]) -> Fault:
    return Fault(name=name, area=AREA, description=description, inject=inject,
                 revert=lambda sb, _n=name: _restore_stash(sb, _n))


FAULTS: list[Fault] = [
    _fault("backup_stale", "the backup job stopped: newest backups are 2 days old",
           _stale_inject),
    _fault("backup_truncated", "newest plain dump (.sql.gz) cut at 60% and published",
           _truncated_inject),
    _fault("custom_dump_truncated", "newest custom-format dump cut at 60% and published",
           _custom_truncated_inject),
    _fault("backup_schema_only",
           "newest plain dump made with --schema-only: restores, every table empty",
           _schema_only_inject),
    _fault("backup_size_collapse", "newest plain dump lacks the data of its biggest table",
           _size_collapse_inject),
    _fault("backup_checksum_mismatch",
           "newest plain dump changed after its checksum was recorded", _checksum_mismatch_inject),
    _fault("backup_retention_gap", "three daily plain dumps (8-10 days back) deleted",
           _retention_gap_inject),
    _fault("backup_over_retention", "a plain dump from 15 months ago is still kept",
           _over_retention_inject),
    _fault("uploads_archive_corrupt", "newest uploads archive is damaged near its start",
           _uploads_corrupt_inject),
    _fault("backup_mirror_missing", "the mirror lacks the newest backup of every series",
           _mirror_missing_inject),
]
