"""Secret redaction applied to everything opsverify writes or prints.

Every value read from the environment through ``${VAR}`` is registered here as a secret, and
so is every password found in a URL or DSN. :func:`redact` replaces them with ``***`` in any
string or JSON-like structure; the pytest plugin routes assertion messages, probe errors,
Allure attachments, parameters and log records through it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

# user:password@ in URLs (postgresql://u:p@h, redis://:p@h, https://u:p@h).
_URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)")
# password=... in libpq key/value DSNs and query strings.
_KV_PASSWORD = re.compile(
    r"(?P<pre>\b(?:password|passwd|pwd|requirepass)\s*=\s*)(?P<pw>'[^']*'|[^\s&;]+)", re.I
)
# Short values are too likely to appear innocently (e.g. "1", "app"); never register them.
MIN_SECRET_LEN = 4


def add_secret(value: str | None) -> None:
    """Register a value that must never be shown."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LEN:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def add_secrets(values: Iterable[str]) -> None:
    for v in values:
        add_secret(v)


def secrets_known() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def clear() -> None:
    """Forget every registered secret (self-tests only)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def register_from_text(text: str) -> None:
    """Register passwords embedded in a URL or DSN string."""
    for m in _URL_PASSWORD.finditer(text):
        add_secret(m.group("pw"))
    for m in _KV_PASSWORD.finditer(text):
        add_secret(m.group("pw").strip("'"))


def redact_text(text: str) -> str:
    if not text:
        return text
    out = _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)
    out = _KV_PASSWORD.sub(lambda m: m.group("pre") + MASK, out)
    pat = _pattern
    if pat is not None:
        out = pat.sub(MASK, out)
    return out


def redact(value: Any) -> Any:
    """Redact a string, or recursively every string in a JSON-like structure."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    return value
