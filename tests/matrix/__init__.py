"""The fault matrix as data: which checks must catch which sandbox fault.

Each area keeps its rows in ``tests/matrix/<area>.py`` as ``ROWS: list[Row]``. The runner in
``tests/test_fault_matrix.py`` injects each fault into the session sandbox, runs the checks of
the areas involved, and asserts that every id in ``catches`` fails (or is broken, when
``broken=True``) with its message fragment, that nothing else in those areas fails except ids
listed in ``tolerates``, then reverts the fault.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    fault: str
    catches: dict[str, str]  # check id -> fragment its failure message must contain
    tolerates: tuple[str, ...] = ()  # other check ids allowed to fail on this fault (collateral)
    broken: tuple[str, ...] = field(default=())  # ids expected broken (unobservable), not failed
    settle_s: float = 0.0  # wait after injecting (e.g. Prometheus scrape interval)
    #: the fault changes what every sandbox on the machine sees (the load average): the row
    #: runs last and alone (tests/machine.py)
    machine_wide: bool = False


def all_rows() -> list[Row]:
    rows: list[Row] = []
    for mod in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        rows.extend(getattr(module, "ROWS", []))
    return sorted(rows, key=lambda r: r.machine_wide)  # stable: machine-wide rows last
