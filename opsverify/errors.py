"""The two ways a check can end badly, kept apart on purpose.

A *finding* (the target was observed and breaches a threshold) is an ``AssertionError`` and
shows as "failed". A target that could not be observed at all (refused, timed out, auth
failure, DNS, garbage on the wire) is a :class:`ProbeError` and shows as "broken": an
on-call engineer must not read "the certificate is fine" into "we could not connect".
"""

from __future__ import annotations


class OpsverifyError(Exception):
    """Base class of opsverify's own errors."""


class ProbeError(OpsverifyError):
    """The target could not be observed; the check result is *broken*, not *failed*."""

    def __init__(self, target: str, problem: str) -> None:
        self.target = target
        self.problem = problem
        super().__init__(f"{target}: {problem}")


class InventoryError(OpsverifyError):
    """A broken inventory: one line naming the file, the key path and the problem."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(f"{where}{problem}")
