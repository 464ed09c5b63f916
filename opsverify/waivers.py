"""Waivers: known, accepted findings, each with a reason, an owner, a ticket and an expiry.

A waiver turns a *failed* result of one check on one target into a *waived* one until it
expires: the result is reported as skipped with ``WAIVED until <date> by <owner> (<ticket>):
<reason>`` (Allure status "skipped", tag ``waived``, category "Waived findings"), it does not
fail the gate, and the terminal summary lists it. Only findings are waivable, never *broken*
results: accepting "we could not observe the target" would hide an outage.

A waiver that has expired, or that matches no check or target, is itself a finding (a failed
result named ``waiver-expired[...]`` / ``waiver-unmatched[...]``): forgotten exceptions must
surface, not linger. The file is validated like an inventory: unknown keys are errors, and
every problem is one line naming the file, the key and the problem (exit code 4).

>>> w = Waiver.model_validate({"check": "CRT-004", "target": "legacy", "reason": "old clients",
...                            "owner": "alice", "ticket": "OPS-1", "expires": "2099-01-01"})
>>> w.matches("CRT-004", "legacy"), w.matches("CRT-004", "frontend")
(True, False)
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from opsverify.catalog import ID_RE
from opsverify.errors import InventoryError
from opsverify.inventory import (
    MAX_EXPANDED_NODES,
    _expanded_size,
    _first_error,
    _loc,
    _Model,
    _StrictLoader,
)

MAX_WAIVERS_BYTES = 256 * 1024
ANY_TARGET = "*"
_TEXT_RE = re.compile(r"\S")


class Waiver(_Model):
    """One accepted finding: check id + target (``*`` or omitted: every target)."""

    check: str
    target: str = ANY_TARGET
    reason: str
    owner: str
    ticket: str
    expires: dt.date

    @field_validator("check")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError(f"'{v}' is not a check id such as HLT-001")
        return v

    @field_validator("reason", "owner", "ticket")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not _TEXT_RE.search(v):
            raise ValueError("must not be empty: an exception nobody owns is not accepted")
        return v

    @property
    def key(self) -> str:
        return f"{self.check}:{self.target}"

    def matches(self, check_id: str | None, target: str | None) -> bool:
        if check_id != self.check:
            return False
        return self.target == ANY_TARGET or self.target == (target or "")

    def expired(self, today: dt.date | None = None) -> bool:
        """Valid through its ``expires`` date (UTC), expired from the day after."""
        return self.expires < (today or utc_today())

    def label(self) -> str:
        """``WAIVED until 2026-12-31 by alice (OPS-123): reason`` - the text reports show."""
        return (f"WAIVED until {self.expires.isoformat()} by {self.owner} ({self.ticket}): "
                f"{' '.join(self.reason.split())}")


class WaiverFile(_Model):
    """``waivers:`` list, optionally with the ``environment`` it belongs to (checked)."""

    environment: str | None = None
    waivers: list[Waiver] = Field(default_factory=list)

    @field_validator("waivers")
    @classmethod
    def _unique(cls, v: list[Waiver]) -> list[Waiver]:
        seen: set[str] = set()
        for w in v:
            if w.key in seen:
                raise ValueError(f"duplicate waiver for {w.check} target {w.target}")
            seen.add(w.key)
        return v

    source: str = Field("<memory>", exclude=True)
    sha256: str = Field("", exclude=True)

    def find(self, check_id: str | None, target: str | None) -> Waiver | None:
        """The waiver for this result: an exact target match wins over ``*``."""
        exact = [w for w in self.waivers if w.matches(check_id, target) and w.target != ANY_TARGET]
        if exact:
            return exact[0]
        return next((w for w in self.waivers if w.matches(check_id, target)), None)


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def load_waivers(path: str | Path, environment: str | None = None) -> WaiverFile:
    """Load and validate a waivers file; raise :class:`InventoryError` with one line."""
    p = Path(path)
    file = str(path)
    try:
        raw = p.read_bytes()[: MAX_WAIVERS_BYTES + 1]
    except FileNotFoundError:
        raise InventoryError(file, "", "waivers file not found") from None
    except OSError as exc:
        raise InventoryError(file, "", f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_WAIVERS_BYTES:
        raise InventoryError(file, "", f"larger than {MAX_WAIVERS_BYTES // 1024} KiB: "
                                       "not a waivers file")
    try:
        data: Any = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError:
        raise InventoryError(file, "", "not valid UTF-8") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InventoryError(file, "", f"YAML syntax error at {where}"
                                       f"{exc.problem or exc.context or 'syntax error'}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(file, "", f"YAML error: {exc}") from None
    if data is None:
        data = {"waivers": []}
    if isinstance(data, list):  # a bare list of waivers is accepted too
        data = {"waivers": data}
    if not isinstance(data, dict):
        raise InventoryError(file, "", f"top level must be a mapping with 'waivers:', "
                                       f"got {type(data).__name__}")
    if _expanded_size(data) > MAX_EXPANDED_NODES:  # same guard as the inventory loader
        raise InventoryError(file, "", f"expands to more than {MAX_EXPANDED_NODES} values "
                                       "(YAML aliases): refusing a possible alias bomb")
    try:
        wf = WaiverFile.model_validate(data)
    except ValidationError as exc:
        key, problem = _first_error_waivers(exc, data)
        raise InventoryError(file, key, problem) from None
    if environment and wf.environment and wf.environment != environment:
        raise InventoryError(file, "environment", f"waivers are for environment "
                                                  f"'{wf.environment}', this run verifies "
                                                  f"'{environment}'")
    return wf.model_copy(update={"source": str(p.resolve()),
                                 "sha256": hashlib.sha256(raw).hexdigest()})


def _first_error_waivers(exc: ValidationError, data: Any) -> tuple[str, str]:
    """The inventory's one-line error, with the waiver's check id in the key path."""
    errors = exc.errors(include_url=False)
    # a misspelt key also makes the right one "missing": name the typo, it is the cause
    err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    if err.get("type") == "extra_forbidden":
        loc = tuple(err.get("loc", ()))
        allowed = (list(Waiver.model_fields) if len(loc) > 2
                   else [k for k in WaiverFile.model_fields if k not in ("source", "sha256")])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return _key(loc, data), f"unknown key{hint}; allowed: {', '.join(allowed)}"
    key, problem = _first_error(exc, data)
    return _key(tuple(err.get("loc", ())), data) or key, problem


def _key(loc: tuple[Any, ...], data: Any) -> str:
    """``('waivers', 0, 'expires')`` -> ``waivers[0] (CRT-004).expires``."""
    return _loc(loc, data, label="check")
