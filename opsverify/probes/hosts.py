"""Host resources through testinfra: disk and inode use per mount, large log files.

Works the same over every testinfra backend (``local://``, ``ssh://``, ``docker://``) because
it only runs POSIX tools that GNU coreutils and busybox both have: ``df -P`` (testinfra has no
disk module) and ``find ... -exec stat``. File sizes are *apparent* sizes (``st_size``): a log
that claims 150 MB is what fills a disk once it is copied, compressed or shipped.

>>> parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\\n"
...          "tmpfs 65536 62259 3277 95% /data\\n")
(65536, 62259, 3277, '/data')
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import testinfra

from opsverify.errors import ProbeError
from opsverify.redact import redact_text


def get_host(target: str, ssh_config: str | None = None) -> Any:
    """A testinfra host (testinfra caches one per target and options)."""
    kwargs: dict[str, Any] = {}
    if ssh_config:
        kwargs["ssh_config"] = ssh_config
    return testinfra.get_host(target, **kwargs)


def run(host: Any, cmd: str, *, target: str) -> str:
    """Run one command; a failure to run it at all (connection, missing tool) is a ProbeError."""
    try:
        res = host.run(cmd)
    except Exception as exc:  # testinfra backends raise their own, unrelated exception types
        raise ProbeError(target, f"cannot run a command on the host: "
                                 f"{redact_text(str(exc))[:200]}") from None
    if res.rc != 0:
        err = (res.stderr or res.stdout or "").strip().splitlines()
        raise ProbeError(target, f"`{cmd.split()[0]}` exited {res.rc} on the host: "
                                 f"{redact_text(err[-1] if err else 'no output')[:200]}")
    return str(res.stdout)


def parse_df(out: str) -> tuple[int, int, int, str]:
    """(total, used, available, mount point) from ``df -P`` output (last line; long
    filesystem names do not wrap with ``-P``)."""
    fields = out.strip().splitlines()[-1].split()
    if len(fields) < 6:
        raise ValueError(f"unexpected df output: {out.strip()[:120]!r}")
    return int(fields[1]), int(fields[2]), int(fields[3]), " ".join(fields[5:])


@dataclass
class MountUsage:
    path: str
    mount_point: str
    kib_total: int
    kib_used: int
    kib_available: int
    inodes_total: int
    inodes_used: int
    inodes_free: int

    @staticmethod
    def _pct(used: int, avail: int) -> float:
        # df's own definition: share of what non-root users can use (reserved blocks excluded)
        return round(100.0 * used / (used + avail), 1) if used + avail else 0.0

    @property
    def used_pct(self) -> float:
        return self._pct(self.kib_used, self.kib_available)

    @property
    def inodes_used_pct(self) -> float:
        return self._pct(self.inodes_used, self.inodes_free)


def mount_usage(host: Any, path: str, *, target: str) -> MountUsage:
    """Blocks and inodes of the filesystem holding ``path``."""
    q = shlex.quote(path)
    try:
        blocks = parse_df(run(host, f"df -Pk {q}", target=target))
        inodes = parse_df(run(host, f"df -Pi {q}", target=target))
    except ValueError as exc:
        raise ProbeError(target, str(exc)) from None
    return MountUsage(path=path, mount_point=blocks[3], kib_total=blocks[0], kib_used=blocks[1],
                      kib_available=blocks[2], inodes_total=inodes[0], inodes_used=inodes[1],
                      inodes_free=inodes[2])


@dataclass
class LargeFile:
    path: str
    size_bytes: int

    @property
    def size_mb(self) -> float:
        return round(self.size_bytes / 2**20, 1)


@dataclass
class LogDirScan:
    directory: str
    exists: bool
    large_files: list[LargeFile]


def large_files(host: Any, directory: str, min_bytes: int, *, target: str) -> LogDirScan:
    """Regular files under ``directory`` (same filesystem) larger than ``min_bytes``."""
    q = shlex.quote(directory)
    try:
        probe = host.run(f"test -d {q}")
    except Exception as exc:  # testinfra backends raise their own exception types
        raise ProbeError(target, f"cannot run a command on the host: "
                                 f"{redact_text(str(exc))[:200]}") from None
    if probe.rc == 1:
        return LogDirScan(directory, False, [])
    if probe.rc != 0:  # 255: ssh could not connect
        raise ProbeError(target, f"cannot run a command on the host (exit {probe.rc}): "
                                 f"{redact_text((probe.stderr or '').strip())[:200]}")
    kib = max(0, min_bytes // 1024)
    out = run(host, f"find {q} -xdev -type f -size +{kib}k -exec stat -c '%s %n' {{}} +",
              target=target)
    found = []
    for line in out.splitlines():
        size, _, name = line.strip().partition(" ")
        if size.isdigit() and int(size) > min_bytes:
            found.append(LargeFile(name, int(size)))
    return LogDirScan(directory, True, sorted(found, key=lambda f: -f.size_bytes))
