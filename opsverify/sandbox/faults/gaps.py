"""Faults for the checks that close the runbooks' last reachable gaps (issue 11).

Each one is a real misconfiguration of a real sandbox component, revertible twice:

- ``pg_wal_archiving_failing``: PostgreSQL's archive_command is replaced by one that fails
  (ALTER SYSTEM + reload, as an operator pointing it at an unmounted share would), and a WAL
  switch makes the archiver try it; revert restores the command, switches again and waits
  until an archive succeeds (BKP-011).
- ``db_migration_behind``: the application database is left one revision behind the one the
  deployment expects (alembic_version rewritten, as a skipped ``alembic upgrade`` leaves it)
  (DB-011).
- ``data_mount_low_free_bytes``: the data tmpfs is filled until less than its declared
  ``min_free`` is free while its use stays under 80 % (RES-008).
- ``model_checkpoint_truncated``: the ML model checkpoint is cut to 1 KiB, as an interrupted
  copy leaves it; the original is kept aside and put back (RES-005).
- ``backup_day_folder_empty``: last night's per-day backup folder holds an empty
  database.sql, as a job that died after creating the file leaves it (BKP-002, BKP-003).
- ``nginx_weak_ciphers``: nginx's ssl_ciphers also enables NULL and anonymous suites with
  ``@SECLEVEL=0``, as an old tutorial's line would (CRT-014).
- ``os_security_update_pending``: in the sandbox's own apt root (never the machine's), the
  installed version of a package is older than the one in the security repository (SEC-031).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from opsverify.sandbox import aptroot, backups, nginx, postgres
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

# ------------------------------------------------------------------------------ WAL archiving
FAILING_ARCHIVE_COMMAND = "exit 1"
_ARCHIVER = ("SELECT coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), "
             "false) AS failing, last_archived_time IS NOT NULL AS archived FROM "
             "pg_stat_archiver")


def _switch_wal(sb: Sandbox) -> None:
    """Write a WAL record and close the segment, so the archiver has a file to archive."""
    postgres.psql(sb, "SELECT pg_logical_emit_message(false, 'opsverify', 'switch'); "
                      "SELECT pg_switch_wal();")


def _archiver_failing(sb: Sandbox) -> bool:
    return postgres.psql(sb, _ARCHIVER).split("|")[0] == "t"


def _wait(cond: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SandboxError(f"{what} within {timeout:.0f}s")
        time.sleep(0.2)


def _inject_wal(sb: Sandbox) -> None:
    postgres.alter_system(sb, "archive_command", FAILING_ARCHIVE_COMMAND)
    _switch_wal(sb)
    _wait(lambda: _archiver_failing(sb), "the archiver recorded no failed attempt")


def _revert_wal(sb: Sandbox) -> None:
    postgres.alter_system(sb, "archive_command", None)  # back to postgresql.conf's command
    if _archiver_failing(sb):
        _switch_wal(sb)
        _wait(lambda: not _archiver_failing(sb), "no WAL segment was archived after the revert")


# -------------------------------------------------------------------------------- migrations
OLD_REVISION = "1c9e5b2a4d07"


def _set_revision(sb: Sandbox, rev: str) -> None:
    postgres.psql(sb, f"UPDATE alembic_version SET version_num = '{rev}'")


# -------------------------------------------------------------------------------- free bytes
#: Free bytes left on the data mount: below its declared min_free (host.DATA_MIN_FREE, 24 MiB)
#: while its use (about 69 % of 64 MiB) stays under the 80/90 % thresholds.
LEAVE_FREE = 20 * 1024 * 1024
FILL_NAME = ".fill-bytes"


def _data(sb: Sandbox) -> Path:
    try:
        return Path(sb.state["host"]["paths"]["data"])
    except KeyError:
        raise SandboxError("the host component (data mount) is not running") from None


def _inject_free(sb: Sandbox) -> None:
    fill = _data(sb) / FILL_NAME
    fill.unlink(missing_ok=True)
    st = os.statvfs(_data(sb))
    need = st.f_bavail * st.f_frsize - LEAVE_FREE
    if need <= 0:
        return
    fd = os.open(fill, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, need)
    finally:
        os.close(fd)


def _revert_free(sb: Sandbox) -> None:
    (_data(sb) / FILL_NAME).unlink(missing_ok=True)


# ------------------------------------------------------------------------------- model file
TRUNCATED_BYTES = 1024


def _model(sb: Sandbox) -> tuple[Path, Path]:
    try:
        model = Path(sb.state["host"]["paths"]["model_file"])
    except KeyError:
        raise SandboxError("the host component (model file) is not running") from None
    return model, model.with_name(model.name + ".orig")


def _inject_model(sb: Sandbox) -> None:
    model, kept = _model(sb)
    if not kept.exists():
        shutil.copy2(model, kept)
    with open(model, "r+b") as fh:
        fh.truncate(TRUNCATED_BYTES)


def _revert_model(sb: Sandbox) -> None:
    model, kept = _model(sb)
    if kept.exists():
        kept.replace(model)


# ---------------------------------------------------------------------------- per-day backup
def _newest_day_file(sb: Sandbox) -> tuple[Path, Path]:
    top = Path(backups.info(sb)["dir"]).parent / backups.PER_DAY["dir"]
    folders = sorted(p for p in top.iterdir() if p.is_dir()) if top.is_dir() else []
    if not folders:
        raise SandboxError(f"no per-day backup folders in {top}")
    return folders[-1] / backups.PER_DAY["file"], top.parent / "stash-per-day.sql"


def _inject_day_empty(sb: Sandbox) -> None:
    path, kept = _newest_day_file(sb)
    if not kept.exists():
        shutil.copy2(path, kept)
    st = path.stat()
    path.write_bytes(b"")
    os.utime(path, (st.st_atime, st.st_mtime))  # written by last night's job, like the rest


def _revert_day_empty(sb: Sandbox) -> None:
    path, kept = _newest_day_file(sb)
    if kept.exists():
        shutil.copy2(kept, path)
        kept.unlink()


# ------------------------------------------------------------------------------ weak ciphers
#: nginx's default is HIGH:!aNULL:!MD5; "!" deletes for good, so DEFAULT:eNULL would re-add nothing.
WEAK_CIPHERS = "HIGH:eNULL:@SECLEVEL=0"


# --------------------------------------------------------------------------- OS updates
def _apt_root(sb: Sandbox) -> Path:
    try:
        root = Path(sb.state["host"]["paths"]["apt_root"])
    except KeyError:
        raise SandboxError("the host component (apt root) is not running") from None
    if not aptroot.status_file(root).exists():
        raise SandboxError(f"no sandbox apt root in {root} (apt-get missing at up?)")
    return root


FAULTS: list[Fault] = [
    Fault("pg_wal_archiving_failing", "backup",
          "PostgreSQL's archive_command fails (ALTER SYSTEM + reload) and a WAL switch made "
          "the archiver try it", _inject_wal, _revert_wal),
    Fault("db_migration_behind", "database",
          f"alembic_version is at {OLD_REVISION}, one revision behind the expected "
          f"{postgres.ALEMBIC_HEAD}",
          lambda sb: _set_revision(sb, OLD_REVISION),
          lambda sb: _set_revision(sb, postgres.ALEMBIC_HEAD)),
    Fault("data_mount_low_free_bytes", "resources",
          "the data mount has 20 MiB free, below its declared min_free of 24 MiB, at ~69 % used",
          _inject_free, _revert_free),
    Fault("model_checkpoint_truncated", "resources",
          f"the ML model checkpoint is cut to {TRUNCATED_BYTES} bytes (interrupted copy)",
          _inject_model, _revert_model),
    Fault("backup_day_folder_empty", "backup",
          "last night's per-day backup folder holds an empty database.sql",
          _inject_day_empty, _revert_day_empty),
    Fault("nginx_weak_ciphers", "tls",
          f"nginx's ssl_ciphers is '{WEAK_CIPHERS}': NULL and anonymous suites accepted",
          lambda sb: nginx.configure(sb, ciphers=WEAK_CIPHERS),
          lambda sb: nginx.reset(sb, "ciphers")),
    Fault("os_security_update_pending", "security",
          f"{aptroot.PACKAGE} {aptroot.OLD_VERSION} is installed while {aptroot.REPO_VERSION} "
          "is in the security repository (the sandbox's own apt root)",
          lambda sb: aptroot.set_installed(_apt_root(sb), aptroot.OLD_VERSION),
          lambda sb: aptroot.set_installed(_apt_root(sb), aptroot.REPO_VERSION)),
]
