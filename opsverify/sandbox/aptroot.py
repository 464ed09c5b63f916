"""A throwaway apt root for the sandbox: its own dpkg status and a local ``file:`` repository.

The security-updates check (SEC-031) asks apt what an upgrade would install. Proving it on
this machine must not touch the machine's real package state, so the sandbox builds a root of
its own under the state dir: ``var/lib/dpkg/status`` with one installed package, a flat
repository labelled ``Debian-Security`` / ``stable-security`` that carries the same version,
and package lists made by ``apt-get update`` run *inside that root* (``APT_CONFIG`` points at
the root's own apt.conf, so the machine's apt.conf.d hooks are not even read). The fault
``os_security_update_pending`` marks the installed version older than the repository's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .base import run

PACKAGE = "opsverify-demo"
REPO_VERSION = "1.0"
OLD_VERSION = "0.9"

_STATUS = """Package: {pkg}
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 1
Maintainer: opsverify <ops@sandbox.test>
Architecture: all
Version: {version}
Description: demo package of the opsverify sandbox

"""
_PACKAGES = """Package: {pkg}
Version: {version}
Architecture: all
Maintainer: opsverify <ops@sandbox.test>
Installed-Size: 1
Filename: ./{pkg}_{version}_all.deb
Size: 1
SHA256: {zeros}
Section: misc
Priority: optional
Description: demo package of the opsverify sandbox

"""
_RELEASE = """Origin: Debian
Label: Debian-Security
Suite: stable-security
Codename: bookworm-security
Date: Thu, 01 Jan 2026 00:00:00 UTC
"""


def status_file(root: Path) -> Path:
    return root / "var" / "lib" / "dpkg" / "status"


def set_installed(root: Path, version: str) -> None:
    """Rewrite the dpkg status as if ``version`` of the package were installed."""
    status_file(root).write_text(_STATUS.format(pkg=PACKAGE, version=version))


def build(root: Path) -> bool:
    """Lay out the root and fetch its package lists from the local repository (no network);
    False (nothing built) on a machine without apt."""
    if shutil.which("apt-get") is None:
        return False
    for d in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
              "var/lib/dpkg", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial",
              "repo"):
        (root / d).mkdir(parents=True, exist_ok=True)
    set_installed(root, REPO_VERSION)
    (root / "repo" / "Packages").write_text(
        _PACKAGES.format(pkg=PACKAGE, version=REPO_VERSION, zeros="0" * 64))
    (root / "repo" / "Release").write_text(_RELEASE)
    (root / "etc" / "apt" / "sources.list").write_text(
        f"deb [trusted=yes] file:{root / 'repo'} ./\n")
    conf = root / "etc" / "apt" / "apt.conf"
    conf.write_text(f'Dir "{root}/";\n')
    run(["apt-get", "-q", "update"], env={"APT_CONFIG": str(conf), "LC_ALL": "C",
                                          "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout=60)
    return True
