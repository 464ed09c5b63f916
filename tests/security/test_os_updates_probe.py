"""The OS updates probe against a real apt root of its own (never the machine's package state):
a throwaway dpkg status and a local security repository, read through a ``local://`` host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opsverify.probes import hosts as hosts_probe
from opsverify.probes import os_updates
from opsverify.sandbox import aptroot


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")
def test_pending_security_update_is_seen_in_a_private_root(tmp_path: Path) -> None:
    root = tmp_path / "aptroot"
    assert aptroot.build(root)
    host = hosts_probe.get_host("local://")
    clean = os_updates.apt_updates(host, str(root), target="t")
    assert clean.pending == [] and clean.lists_age_days is not None
    assert clean.lists_age_days < 1
    aptroot.set_installed(root, aptroot.OLD_VERSION)
    obs = os_updates.apt_updates(host, str(root), target="t")
    assert [(p.package, p.installed, p.candidate, p.security) for p in obs.pending] == [
        (aptroot.PACKAGE, aptroot.OLD_VERSION, aptroot.REPO_VERSION, True)]


def test_missing_lists_are_observed_as_none(tmp_path: Path) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("needs apt-get")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("")
    obs = os_updates.apt_updates(hosts_probe.get_host("local://"), str(tmp_path), target="t")
    assert obs.lists_age_days is None
