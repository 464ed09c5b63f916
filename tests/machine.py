"""One machine, several self-test workers: faults that change the whole machine run alone.

``make test`` runs the self-tests in two xdist workers, each with its own sandbox, so almost
every fault touches only its own sandbox. A few faults change something every sandbox sees:
``cpu_saturated`` raises the machine's load average, which is what RES-006 reads on every
host. Such a fault holds this lock exclusively from inject until its revert has let the load
decay; every check run of the self-tests holds it shared, so no check run of another worker
overlaps the fault (and the fault waits for runs already under way).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

LOCK_PATH = "/tmp/opsverify-selftest-machine.lock"
_exclusive_here = False


@contextmanager
def check_run() -> Iterator[None]:
    """Held around a check run: waits while another worker's machine-wide fault is in place."""
    if _exclusive_here:  # this process injected the fault: its own runs must see it
        yield
        return
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


@contextmanager
def machine_wide_fault() -> Iterator[None]:
    """Held from inject to revert of a fault every sandbox on this machine would notice."""
    global _exclusive_here
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _exclusive_here = True
        try:
            yield
        finally:
            _exclusive_here = False
