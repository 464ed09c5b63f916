"""Hostile backup folders through the REAL backup checks (BKP-*): a gzip bomb, a symlink loop,
a file whose read fails, a FIFO named like a backup, a file that grows while it is read, and
100,000 files. Every check ends (no hang), with a clear one-line message, no traceback, and the
child's memory stays bounded; the listing of 100,000 files is timed.

We run as root, so ``chmod 000`` would not make a file unreadable: the "unreadable" backup is a
symlink to ``/proc/self/mem``, a regular file whose every read fails with EIO, and the FIFO is a
file that blocks whoever opens it for reading without a writer.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.robustness.runner import run_checks

BOMB_MEMBERS = 50                  # x 10 MiB of zeros = 500 MiB uncompressed, ~0.5 MB on disk
MANY_FILES = 100_000
MAX_RSS_MB = 300
RESULT_BUDGET_S = 20.0
# Checks that read the content must never pass on these folders; age and size checks may
# (a fresh 0.5 MB bomb is fresh and plausibly sized).
CONTENT_CHECKS = ("test_newest_backup_reads_back", "test_newest_backup_matches_manifest",
                  "test_every_listed_backup_matches_manifest")
EXPECTED = {  # (check, target): fragment of the one-line message
    ("test_newest_backup_reads_back", "bomb"): "lacks pg_dump's closing line",
    ("test_newest_backup_reads_back", "unreadable"): "Input/output error",
    ("test_newest_backup_reads_back", "growing"): "damaged",
    ("test_newest_backup_matches_manifest", "loop"): "no file matching",
    ("test_every_listed_backup_matches_manifest", "loop"): "symbolic links",
    ("test_every_listed_backup_matches_manifest", "fifo"): "a FIFO",
    ("test_every_listed_backup_matches_manifest", "unreadable"): "Input/output error",
    ("test_every_listed_backup_matches_manifest", "growing"): "checksum mismatch",
    ("test_newest_backup_size_is_plausible", "many"): "empty",
    ("test_newest_backup_reads_back", "many"): "the file is empty",
}


def _gzip_member(size: int) -> bytes:
    """One gzip member of ``size`` zero bytes (zeros compress ~1000:1)."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    return co.compress(bytes(size)) + co.flush()


def _today(suffix: str = "") -> str:
    return f"database_{dt.date.today().isoformat()}{suffix}.sql.gz"


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[dict[str, Path]]:
    d = {k: tmp_path / k for k in ("bomb", "loop", "unreadable", "fifo", "growing")}
    # 100,000 creations take ~1 s on tmpfs and 6-13 s on the CI disk (ext4, 2 busy cores):
    # the listing's cost, not the disk's, is what is measured here.
    shm = Path("/dev/shm")
    d["many"] = Path(tempfile.mkdtemp(prefix="ovs-many-", dir=shm if shm.is_dir() else tmp_path))
    for k, p in d.items():
        if k != "many":
            p.mkdir()
    # gzip bomb: a valid multi-member gzip of 500 MiB of zeros (1000:1), generated in < 0.1 s
    member = _gzip_member(10 * 1024 * 1024)
    with open(d["bomb"] / _today(), "wb") as fh:
        for _ in range(BOMB_MEMBERS):
            fh.write(member)
    # symlink loops: the backup, its manifest and a subdirectory point at themselves
    os.symlink(_today(), d["loop"] / _today())
    os.symlink("SHA256SUMS", d["loop"] / "SHA256SUMS")
    os.symlink(".", d["loop"] / "sub")
    # a regular file whose reads fail (EIO), and a manifest that is the same
    os.symlink("/proc/self/mem", d["unreadable"] / _today())
    os.symlink("/proc/self/mem", d["unreadable"] / "SHA256SUMS")
    # FIFOs: the backup and the manifest block any reader that opens them
    os.mkfifo(d["fifo"] / _today())
    os.mkfifo(d["fifo"] / "SHA256SUMS")
    # 100,000 empty files matching the pattern, the newest one a plausible name
    t0 = time.monotonic()
    fd_dir = os.open(d["many"], os.O_RDONLY)
    try:
        for i in range(MANY_FILES):
            os.close(os.open(f"database_{i:06d}.sql.gz", os.O_CREAT | os.O_WRONLY, 0o644,
                             dir_fd=fd_dir))
    finally:
        os.close(fd_dir)
    print(f"created {MANY_FILES} files in {time.monotonic() - t0:.1f}s")
    # a dump that grows while the checks read it (pg_dump | gzip still running)
    stop = threading.Event()
    growing = d["growing"] / _today()
    chunk = gzip.compress(b"INSERT INTO t VALUES (1);\n" * 20000)
    (d["growing"] / "SHA256SUMS").write_text(f"{'0' * 64}  {growing.name}\n")
    growing.write_bytes(chunk)

    def grow() -> None:
        with open(growing, "ab") as fh:
            while not stop.wait(0.01):
                fh.write(chunk)
                fh.flush()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    try:
        yield d
    finally:
        stop.set()
        writer.join(5)
        shutil.rmtree(d["many"], ignore_errors=True)


def test_hostile_backup_folders(folders: dict[str, Path], tmp_path: Path) -> None:
    def item(name: str, **extra: object) -> dict[str, object]:
        return {"name": name, "path": str(folders[name]), "pattern": "database_*.sql.gz",
                "max_age_h": 24, **extra}

    inv = {
        "environment": "hostile-files",
        "thresholds": {"timeout_s": 2},
        "backups": [
            item("bomb"),
            item("loop", checksums="SHA256SUMS"),
            item("unreadable", checksums="SHA256SUMS"),
            item("fifo", checksums="SHA256SUMS"),
            item("growing", checksums="SHA256SUMS"),
            item("many", retention={"daily": 7, "weekly": 4, "monthly": 3}),
        ],
    }
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(inv))
    out = tmp_path / "run"
    out.mkdir()
    run = run_checks(path, out, "checks/backup", "-n", "2", "--timeout", "60", timeout_s=180)
    rows = [(r["nodeid"].split("::")[-1], r["outcome"], round(r["duration"], 2),
             r["message"].split("\n")[0]) for r in run.results]
    print(json.dumps(rows, indent=1))
    print(f"wall {run.wall_s:.1f}s, peak RSS {run.maxrss_mb:.0f} MB, rc {run.rc}")
    assert run.results, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    assert run.maxrss_mb < MAX_RSS_MB
    problems = []
    for r in run.results:
        if r["outcome"] == "skipped":
            continue
        if r["duration"] > RESULT_BUDGET_S:
            problems.append(f"{r['nodeid']}: {r['duration']:.1f}s")
        name = r["nodeid"].split("::")[-1].split("[")[0]
        if r["outcome"] == "passed" and name in CONTENT_CHECKS:
            problems.append(f"{r['nodeid']}: passed")
        first = r["message"].split("\n")[0]
        fragment = EXPECTED.get((name, r["target"]))
        if fragment and fragment not in first:
            problems.append(f"{r['nodeid']}: {first!r} lacks {fragment!r}")
        if r["outcome"] != "passed" and (not first or "Traceback" in r["message"]):
            problems.append(f"{r['nodeid']}: message {first!r}")
    listing_s = [r["duration"] for r in run.results
                 if r["target"] == "many" and "test_newest_backup_is_fresh" in r["nodeid"]]
    print(f"listing + freshness of {MANY_FILES} files: {listing_s[0]:.2f}s")
    assert not problems, "\n".join(problems)
