"""A long-lived child that runs ``pytest.main`` on request, for the fault matrix.

Starting a Python interpreter and importing the check stack (docker, psycopg, testinfra,
allure, cryptography) costs seconds; the matrix runs the checks once per fault, so it pays
that once. Each run is still a complete pytest session (fresh config, fixtures and plugins,
the operator's command line); only imported modules are shared, and opsverify keeps no
module-level state across sessions.

Protocol: one JSON request per line on stdin ``{"args": [...], "log": PATH}``; one JSON
answer per line on the original stdout ``{"exit": CODE}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import pytest


def main() -> None:
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        with open(req["log"], "w") as log, contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(log):
            try:
                code = int(pytest.main(req["args"]))
            except BaseException as exc:  # report, keep serving
                print(f"runner crashed: {type(exc).__name__}: {exc}")
                code = -1
        reply.write(json.dumps({"exit": code}) + "\n")


if __name__ == "__main__":
    main()
