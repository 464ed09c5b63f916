"""Pending OS package updates, as apt would install them (``apt list --upgradable``).

Read-only: ``apt-get -s dist-upgrade`` only simulates (no lock, no download, no hook runs), and
the package lists are read as the last ``apt-get update`` left them - this probe never
refreshes them, because a check must not change the system. Lists older than the declared age
cannot tell what is pending, so their age is observed too (newest ``*Release`` file in
``var/lib/apt/lists``).

A pending update is a *security* update when one of the releases apt would take it from is a
security suite: ``Debian-Security:12/stable-security``, ``Ubuntu:22.04/jammy-security``.

>>> ups = parse_simulation("Inst libssl3 [3.0.11-1] (3.0.13-1 Debian-Security:12/stable-security "
...                        "[amd64])\\nInst vim [2:9.0.1] (2:9.0.2 Debian:12.5/stable [amd64])\\n")
>>> [(u.package, u.candidate, u.security) for u in ups]
[('libssl3', '3.0.13-1', True), ('vim', '2:9.0.2', False)]
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from opsverify.errors import ProbeError
from opsverify.probes import hosts as hosts_probe

_INST = re.compile(r"^Inst (?P<pkg>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+) (?P<rel>.*?)"
                   r"(?: \[[^\]]+\])?\)")
_SEP = "@@opsverify@@"


@dataclass(frozen=True)
class PendingUpdate:
    package: str
    installed: str | None
    candidate: str
    releases: tuple[str, ...]
    security: bool


@dataclass
class UpdatesObservation:
    root: str
    pending: list[PendingUpdate]
    lists_age_days: float | None  # None: no package lists at all
    notes: list[str] = field(default_factory=list)

    @property
    def security(self) -> list[PendingUpdate]:
        return [p for p in self.pending if p.security]

    def summary(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "package_lists_age_days": (round(self.lists_age_days, 2)
                                       if self.lists_age_days is not None else None),
            "pending": len(self.pending),
            "pending_security": [f"{p.package} {p.installed} -> {p.candidate} "
                                 f"({', '.join(p.releases)})" for p in self.security],
            "pending_other": [f"{p.package} {p.installed} -> {p.candidate}"
                              for p in self.pending if not p.security][:50],
            "notes": self.notes,
        }


def parse_simulation(text: str) -> list[PendingUpdate]:
    """The ``Inst`` lines of ``apt-get -s`` output."""
    out = []
    for line in text.splitlines():
        m = _INST.match(line.strip())
        if not m:
            continue
        releases = tuple(r.strip() for r in m.group("rel").split(",") if r.strip())
        out.append(PendingUpdate(m.group("pkg"), m.group("old"), m.group("new"), releases,
                                 any("security" in r.lower() for r in releases)))
    return out


def apt_updates(host: Any, root: str, *, target: str) -> UpdatesObservation:
    """One round trip: the simulation and the lists' age (seconds since the newest Release)."""
    opt = "" if root.rstrip("/") == "" else f" -o Dir={shlex.quote(root.rstrip('/') + '/')}"
    lists = shlex.quote(root.rstrip("/") + "/var/lib/apt/lists")
    script = (f"command -v apt-get >/dev/null || {{ echo 'apt-get not found'; exit 127; }}; "
              f"LC_ALL=C apt-get -s -q{opt} dist-upgrade || exit $?; echo {_SEP}; "
              f"date +%s; ls -t {lists}/*Release 2>/dev/null | head -n 1 | "
              f"xargs -r stat -c %Y")
    out = hosts_probe.run(host, f"sh -c {shlex.quote(script)}", target=target)
    sim, _, tail = out.partition(_SEP)
    if not tail:
        raise ProbeError(target, "unexpected output from apt-get -s dist-upgrade")
    numbers = [int(x) for x in tail.split() if x.isdigit()]
    age = (numbers[0] - numbers[1]) / 86400 if len(numbers) >= 2 else None
    return UpdatesObservation(root=root, pending=parse_simulation(sim), lists_age_days=age)
