"""Attach observations to the Allure result as JSON, secrets redacted.

Auditors read the evidence, not the code: every check attaches what it saw (the observation),
and the threshold it compared against, before asserting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import allure

from opsverify.redact import redact, redact_text


def to_jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models, paths, dates and enums -> plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(redact(to_jsonable(value)), indent=2, sort_keys=False, default=str)


def attach(name: str, observation: Any) -> None:
    """Attach an observation (anything JSON-like) as a redacted JSON attachment."""
    allure.attach(dumps(observation), name=name, attachment_type=allure.attachment_type.JSON)


def attach_text(name: str, text: str) -> None:
    allure.attach(redact_text(text), name=name, attachment_type=allure.attachment_type.TEXT)


def attach_svg(name: str, svg: str) -> None:
    allure.attach(svg, name=name, attachment_type=allure.attachment_type.SVG)


def attach_threshold(**limits: Any) -> None:
    """Record the thresholds a check compared against, as Allure parameters and evidence."""
    for key, value in limits.items():
        allure.dynamic.parameter(f"threshold.{key}", redact(str(value)))


# ------------------------------------------------------------------- measurements (reports)
# Key measurements a check wants kept beyond its pass/fail: deploy baselines compare them
# (``--baseline``: names starting with ``latency`` regress beyond latency_regression_pct),
# the metrics export publishes them. The pytest plugin points ``_CURRENT`` at the running
# item; outside a pytest run ``measure`` only records nothing and returns.
_CURRENT: list[Any] = []
MEASURE_PREFIX = "measure."


def measure(name: str, value: float, unit: str = "") -> None:
    """Record a key measurement of the current check result, e.g.
    ``measure("latency_p95_ms", 123.4, "ms")``: stored in the result (user property
    ``measure.<name>``), shown as an Allure parameter, saved into deploy baselines."""
    number = float(value)
    shown = f"{number:g} {unit}".strip()
    allure.dynamic.parameter(f"{MEASURE_PREFIX}{name}", shown, excluded=True)
    if _CURRENT:
        _CURRENT[-1].user_properties.append((f"{MEASURE_PREFIX}{name}", number))
