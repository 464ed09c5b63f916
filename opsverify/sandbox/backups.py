"""Backups for the sandbox: real pg_dump output with a year of history, like a backup job.

Three series in ``backups/app`` (what a nightly job on the reference systems leaves behind):
``database_*.sql.gz`` (plain dump, gzip), ``database_*.dump`` (custom format) and
``uploads_*.tar.gz`` (the upload directory), plus a ``SHA256SUMS`` manifest of every file and
a ``backups/mirror`` folder holding the last 7 days (the "second copy").

Cheap on purpose: ONE real ``pg_dump`` of each format (as the application role, over TLS, the
way the job would) and one real tar; the history is copies of them named and dated (mtime)
to fill 30 daily, 12 weekly and 12 monthly slots. The newest file of every series is the real,
fresh one. ``pg_dump -t 'public.*' --no-owner --no-privileges``: portable dumps that a role with
CREATEDB can restore (a full dump would also carry ``CREATE EXTENSION pg_stat_statements``,
which only a superuser may run).

A sandbox profile (opsverify.sandbox.profiles) replaces the folder, the series (file names,
formats, archive tree), the retention policy and the tables a restore must find with its
runbook's, and declares them as its example inventory does (no manifest or mirror there; the
files are still written, so the backup faults work the same way).

Knobs for the fault module: :func:`info`, :func:`series`, :func:`real_dump`,
:func:`publish` (rewrite a file's manifest line and mirror copy, as the job would).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from . import postgres
from .base import Component, Sandbox, SandboxError

SERIES: dict[str, dict[str, Any]] = {
    "database": {"pattern": "database_*.sql.gz", "suffix": ".sql.gz", "format": "pg_plain_gz"},
    "database-custom": {"pattern": "database_*.dump", "suffix": ".dump", "format": "pg_custom"},
    "uploads": {"pattern": "uploads_*.tar.gz", "suffix": ".tar.gz", "format": "tar_gz"},
}
MANIFEST = "SHA256SUMS"
MIRROR_DAYS = 7
RETENTION = {"daily": 30, "weekly": 12, "monthly": 12}
MIN_ROWS = {"users": 1, "studies": 1}
UPLOAD_FILES = 12
UPLOAD_FILE_BYTES = 24 * 1024


def info(sb: Sandbox) -> dict[str, Any]:
    data: dict[str, Any] = sb.state.get("backups", {})
    if not data:
        raise SandboxError("backups are not laid out in this sandbox")
    return data


def backup_dir(sb: Sandbox) -> Path:
    return Path(info(sb)["dir"])


def mirror_dir(sb: Sandbox) -> Path:
    return Path(info(sb)["mirror"])


def series(sb: Sandbox, name: str) -> list[Path]:
    """Files of one series, oldest first by mtime (the newest is the last).

    A profile may lay out fewer series (and name them its runbook's way): a series it does
    not have has no files.
    """
    spec = info(sb).get("series", SERIES).get(name)
    if spec is None:
        return []
    return sorted(backup_dir(sb).glob(spec["pattern"]), key=lambda p: (p.stat().st_mtime, p.name))


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y%m%d_%H%M%S")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(directory: Path) -> None:
    """``sha256sum * > SHA256SUMS`` over every backup file of the folder."""
    lines = [f"{sha256(p)}  {p.name}" for p in sorted(directory.iterdir())
             if p.is_file() and p.name != MANIFEST]
    (directory / MANIFEST).write_text("\n".join(lines) + "\n")


def publish(sb: Sandbox, path: Path) -> None:
    """What the job does after writing a file: its manifest line, and the mirror copy."""
    manifest = backup_dir(sb) / MANIFEST
    entries = [ln for ln in manifest.read_text().splitlines()
               if ln.strip() and not ln.endswith(f"  {path.name}")]
    entries.append(f"{sha256(path)}  {path.name}")
    manifest.write_text("\n".join(entries) + "\n")
    recent = path.stat().st_mtime >= dt.datetime.now().timestamp() - MIRROR_DAYS * 86400
    if recent or (mirror_dir(sb) / path.name).exists():
        shutil.copy2(path, mirror_dir(sb) / path.name)


def real_dump(sb: Sandbox, out: Path, fmt: str, extra: list[str] | None = None, *,
              timeout: float = 120) -> None:
    """A real ``pg_dump`` of the application database as the app role, over TLS."""
    pg = postgres.info(sb)
    env = {
        **os.environ,
        "PGPASSWORD": sb.state["env"][postgres.ROLE_VARS["app"]],
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": pg["ca_file"],
        "PGCONNECT_TIMEOUT": "5",
    }
    argv = [
        f"{pg['bin_dir']}/pg_dump", "-h", "127.0.0.1", "-p", str(pg["port"]), "-U", "app",
        "-d", pg["db"], "-t", "public.*", "--no-owner", "--no-privileges", *(extra or []),
    ]  # fmt: skip
    if fmt == "pg_custom":
        argv += ["-Fc", "-f", str(out)]
    elif fmt == "pg_plain":  # uncompressed SQL (runbook 000 pipes it into psql)
        argv += ["-Fp", "-f", str(out)]
    else:
        argv += ["-Fp", "-Z", "6", "-f", str(out)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise SandboxError(f"pg_dump exited {proc.returncode}: {proc.stderr.strip()[-300:]}")


def uploads_archive(out: Path, top: str = "uploads", sub: str = "studies",
                    seed: int = 7) -> None:
    """A real tar.gz of an upload tree (random, incompressible study files)."""
    rng = random.Random(seed)
    with tarfile.open(out, "w:gz") as tf:
        for d in (top, f"{top}/{sub}"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(ti)
        for i in range(UPLOAD_FILES):
            data = rng.randbytes(UPLOAD_FILE_BYTES)
            ti = tarfile.TarInfo(f"{top}/{sub}/study_{i:04d}.dcm")
            ti.size, ti.mode = len(data), 0o644
            tf.addfile(ti, io.BytesIO(data))


def history_days(now: dt.datetime, retention: dict[str, int] | None = None) -> list[dt.datetime]:
    """When the copies are dated (02:00): dailies, weeklies and monthlies of the policy.

    ``retention`` defaults to the sandbox's 30/12/12; without any policy (a profile whose
    runbook states none), a week of dailies, enough for the size trend.
    """
    policy = RETENTION if retention is None else retention
    today = now.date()
    # A few more dailies and weeklies than the policy needs, as a rotation by age leaves
    # them: the calendar is anchored on the newest file, and must stay filled when a fault
    # removes the last days.
    days = {today - dt.timedelta(days=i) for i in range(1, policy.get("daily", 3) + 5)}
    if policy.get("weekly"):
        days |= {today - dt.timedelta(weeks=k) for k in range(4, policy["weekly"] + 2)}
    first = today.replace(day=1)
    for m in range(1, policy.get("monthly", 0)):
        idx = first.year * 12 + first.month - 1 - m
        days.add(dt.date(idx // 12, idx % 12 + 1, 1))
    return sorted(dt.datetime.combine(d, dt.time(2, 0)) for d in days)


#: One folder per day (runbook 001: /backup/horalix/YYYYMMDD/database.sql): the per-day layout
#: of the backups model, as the ``database-daily`` item (pattern ``*/database.sql``).
PER_DAY = {"dir": "daily", "file": "database.sql", "days": 7, "retention": {"daily": 7}}


def per_day_folders(sb: Sandbox, base: Path, now: dt.datetime) -> dict[str, Any]:
    """Today's folder with a real plain pg_dump, and the previous days' folders (copies dated
    02:00 that day); returns the inventory item."""
    top = base / PER_DAY["dir"]
    fresh = top / now.strftime("%Y%m%d") / PER_DAY["file"]
    fresh.parent.mkdir(parents=True, exist_ok=True)
    real_dump(sb, fresh, "pg_plain")
    for i in range(1, PER_DAY["days"]):
        when = dt.datetime.combine(now.date() - dt.timedelta(days=i), dt.time(2, 0))
        copy = top / when.strftime("%Y%m%d") / PER_DAY["file"]
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(fresh, copy)
        os.utime(copy, (when.timestamp(), when.timestamp()))
    return {"name": "database-daily", "path": str(top), "pattern": f"*/{PER_DAY['file']}",
            "format": "pg_plain", "max_age_h": 24, "min_size": "4k",
            "retention": dict(PER_DAY["retention"])}


class BackupsComponent(Component):
    """Backup folders with real dumps, history, a manifest and a mirror; no process."""

    name = "backups"

    def up(self, sb: Sandbox) -> None:
        postgres.info(sb)  # needs a running postgres: fail early with a clear message
        # A profile (opsverify.sandbox.profiles) names the folder, the series and the policy
        # its runbook gives; without one, the sandbox's three series in backups/app.
        prof: dict[str, Any] = (sb.state.get("profile") or {}).get("backups") or {}
        base = sb.path("backups")
        app, mirror, stash = base / "app", base / "mirror", base / "stash"
        if prof:
            # the runbook's absolute folder, under the state dir; mirror and stash beside it
            # (the backup faults save files relative to the folder's parent)
            app = sb.path(*Path(prof["dir"]).parts)
            mirror, stash = app.parent / "opsverify-mirror", app.parent / "opsverify-stash"
        specs: dict[str, dict[str, Any]] = prof.get("series", SERIES)
        retention = prof.get("retention") if prof else RETENTION
        for d in (app, mirror):
            d.mkdir(parents=True, exist_ok=True)
        sb.state["backups"] = {"dir": str(app), "mirror": str(mirror), "stash": str(stash)}
        if prof:
            sb.state["backups"]["series"] = specs
        sb.save()
        now = dt.datetime.now().replace(microsecond=0)

        def file_name(name: str, spec: dict[str, Any], when: dt.datetime) -> str:
            prefix = spec.get("prefix", f"{name.split('-')[0]}_")
            return f"{prefix}{when.strftime(spec.get('stamp', '%Y%m%d_%H%M%S'))}{spec['suffix']}"

        newest: dict[str, Path] = {}
        for name, spec in specs.items():
            out = app / file_name(name, spec, now)
            if spec["format"] == "tar_gz":
                uploads_archive(out, *(spec["top"].rsplit("/", 1) if spec.get("top")
                                       else ("uploads", "studies")))
            else:
                real_dump(sb, out, spec["format"])
            newest[name] = out
        for when in history_days(now, retention):
            ts = when.timestamp()
            for name, spec in specs.items():
                copy = app / file_name(name, spec, when)
                shutil.copyfile(newest[name], copy)
                os.utime(copy, (ts, ts))
        write_manifest(app)
        cutoff = (now - dt.timedelta(days=MIRROR_DAYS)).timestamp()
        for p in app.iterdir():
            if p.name != MANIFEST and p.stat().st_mtime >= cutoff:
                shutil.copy2(p, mirror / p.name)
        for name, spec in specs.items():
            if prof:
                sb.inventory_add("backups", self._profile_item(app, spec, prof))
                continue
            item: dict[str, Any] = {
                "name": name,
                "path": str(app),
                "pattern": spec["pattern"],
                "format": spec["format"],
                "max_age_h": 24,
                "min_size": "4k",
                "checksums": MANIFEST,
                "retention": dict(RETENTION),
                "mirror": str(mirror),
            }
            if spec["format"] != "tar_gz":
                item["restore"] = {"postgres": "main", "min_rows": dict(MIN_ROWS), "jobs": 2}
            else:
                item["expect_paths"] = ["uploads/studies"]
            sb.inventory_add("backups", item)
        if not prof:
            sb.inventory_add("backups", per_day_folders(sb, base, now))

    @staticmethod
    def _profile_item(app: Path, spec: dict[str, Any], prof: dict[str, Any]) -> dict[str, Any]:
        """The item as the profile's example inventory declares it (no manifest, no mirror)."""
        item: dict[str, Any] = {"name": spec["item"], "path": str(app),
                                "pattern": spec["pattern"], "format": spec["format"],
                                "max_age_h": 24}
        if spec["format"] == "tar_gz":
            item["expect_paths"] = [spec["top"]]
        else:
            item["restore"] = {"postgres": "main"}
            if prof.get("min_rows"):
                item["restore"]["min_rows"] = dict(prof["min_rows"])
        if prof.get("retention"):
            item["retention"] = dict(prof["retention"])
        return item

    def down(self, sb: Sandbox) -> None:
        """Nothing runs; the files go with the state directory."""
