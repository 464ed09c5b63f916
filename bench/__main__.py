"""Run every benchmark module in bench/ (each writes JSON to reports/bench/)."""

from __future__ import annotations

import pkgutil
import runpy
import sys
from pathlib import Path

for mod in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
    if mod.startswith("bench_"):
        print(f"== bench.{mod}", flush=True)
        sys.argv = [f"bench.{mod}"]
        runpy.run_module(f"bench.{mod}", run_name="__main__")
