"""Security signals in logs: failed logins in the last 24 h, injection-looking requests.

The runbooks' manual greps ("grep 'login failed' | tail -20") turned into counts with a time
window and the top source addresses. Only matching lines travel (the host greps, the runner
counts), capped, so a large log costs little; rotated ``.gz`` files are not read (older than
the window by construction), and files untouched for more than a day are skipped.

>>> count_failed_logins(["2026-01-02T10:00:00Z WARNING failed login for user=a from ip=10.0.0.9"],
...                     now=parse_ts("2026-01-02T12:00:00Z")).count
1
>>> injection_kind('GET /search?q=1%20UNION%20SELECT%20password HTTP/1.1')
'SQL injection (union select)'
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

WINDOW = dt.timedelta(hours=24)
MAX_LINES = 50_000
MAX_TAIL_BYTES = 20 * 1024 * 1024
#: What failed logins look like across the reference systems' logs and common daemons.
FAILED_LOGIN_RE = (
    r"failed login|login failed|authentication failed|failed password|invalid credentials|"
    r"invalid password|unauthorized login|login failure|authentication failure"
)
_FAILED = re.compile(FAILED_LOGIN_RE, re.I)
_IP = re.compile(r"(?:ip=|from |client[= ]|^)\s*\[?((?:\d{1,3}\.){3}\d{1,3}|[0-9a-f:]*:[0-9a-f:]+)",
                 re.I)
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,]\d+)?\s*(Z|[+-]\d{2}:?\d{2})?")
_CLF = re.compile(r"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}) ([+-]\d{4})\]")
_INJECTION: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("SQL injection (union select)", re.compile(r"union(\s|\+|/\*.*?\*/)+(all\s+)?select", re.I)),
    ("SQL injection (or 1=1)", re.compile(r"'\s*or\s+'?1'?\s*=\s*'?1", re.I)),
    ("script injection (<script)", re.compile(r"<\s*script", re.I)),
    ("path traversal (../)", re.compile(r"\.\./|\.\.\\")),
)


def parse_ts(text: str) -> dt.datetime | None:
    """The first ISO-8601 or common-log-format timestamp in a line (naive = UTC)."""
    m = _ISO.search(text)
    if m:
        tz = m.group(3) or "+00:00"
        tz = "+00:00" if tz == "Z" else (tz if ":" in tz else f"{tz[:3]}:{tz[3:]}")
        try:
            return dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{tz}")
        except ValueError:
            return None
    m = _CLF.search(text)
    if m:
        try:
            return dt.datetime.strptime(f"{m.group(1)} {m.group(2)}", "%d/%b/%Y:%H:%M:%S %z")
        except ValueError:
            return None
    return None


def source_of(line: str) -> str:
    m = _IP.search(line)
    return m.group(1) if m else "unknown"


@dataclass
class SignalCount:
    """How many matching lines in the window, from where, and in which files."""

    count: int = 0
    without_timestamp: int = 0
    top_sources: list[tuple[str, int]] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    truncated: bool = False


def count_failed_logins(lines: list[str], *, now: dt.datetime | None = None) -> SignalCount:
    """Failed logins timestamped within the last 24 h (lines without a timestamp are counted
    apart: they come from files modified within the window, but their time is unknown)."""
    now = now or dt.datetime.now(dt.UTC)
    out = SignalCount()
    sources: Counter[str] = Counter()
    for line in lines:
        if not _FAILED.search(line):
            continue
        ts = parse_ts(line)
        if ts is None:
            out.without_timestamp += 1
            continue
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=dt.UTC)
        if now - ts <= WINDOW:
            out.count += 1
            sources[source_of(line)] += 1
    out.top_sources = sources.most_common(5)
    return out


def injection_kind(line: str) -> str | None:
    """The kind of attack a request line looks like (URL-decoded first), or None."""
    decoded = unquote_plus(unquote_plus(line))
    for label, rx in _INJECTION:
        if rx.search(decoded):
            return label
    return None


def count_injections(lines: list[str], *, now: dt.datetime | None = None) -> SignalCount:
    """Injection-looking requests timestamped within the last 24 h."""
    now = now or dt.datetime.now(dt.UTC)
    out = SignalCount()
    sources: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for line in lines:
        kind = injection_kind(line)
        if kind is None:
            continue
        ts = parse_ts(line)
        if ts is not None:
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=dt.UTC)
            if now - ts > WINDOW:
                continue
        else:
            out.without_timestamp += 1
        out.count += 1
        kinds[kind] += 1
        sources[source_of(line)] += 1
    out.top_sources = sources.most_common(5)
    out.kinds = dict(kinds)
    return out


def grep_host_logs(host: Any, host_name: str, log_dir: str, pattern: str, *,
                   target: str) -> tuple[list[str], list[str], bool]:
    """Lines matching ``pattern`` (case-insensitive ERE) in files of ``log_dir`` modified in the
    last day, on a testinfra host, in two commands. Returns (lines, files, truncated)."""
    try:
        found = host.run("find %s -maxdepth 2 -type f -mtime -1 ! -name '*.gz' -print", log_dir)
        if found.rc != 0:
            err = " ".join(found.stderr.split())[:200]
            raise ProbeError(target, f"cannot list log dir {log_dir} on {host_name}: {err}")
        files = [f for f in found.stdout.splitlines() if f.strip()]
        if not files:
            return [], [], False
        quoted = " ".join(["%s"] * len(files))
        res = host.run(f"grep -a -h -i -E -e %s -- {quoted} | tail -n %s",
                       pattern, *files, str(MAX_LINES))
        if res.rc not in (0, 1):
            raise ProbeError(target, f"reading logs in {log_dir} on {host_name} failed "
                                     f"(exit {res.rc})")
        lines = res.stdout.splitlines()
        return lines, files, len(lines) >= MAX_LINES
    except ProbeError:
        raise
    except Exception as exc:
        msg = " ".join(str(exc).split()).split("stdout=")[0][:200]
        raise ProbeError(target, f"cannot read {log_dir} on {host_name}: "
                                 f"{type(exc).__name__}: {msg}") from None


def read_local_tail(path: str, *, target: str, max_bytes: int = MAX_TAIL_BYTES) -> list[str]:
    """The last ``max_bytes`` of a local log file, as lines (the first, partial line dropped)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            if size > max_bytes:
                fh.seek(size - max_bytes)
                data = fh.read()
                data = data.split(b"\n", 1)[-1]
            else:
                data = fh.read()
    except FileNotFoundError:
        raise ProbeError(target, f"access log {path} does not exist") from None
    except OSError as exc:
        raise ProbeError(target, f"cannot read access log {path}: {exc.strerror}") from None
    return data.decode("utf-8", "replace").splitlines()


#: Methods that change state: outside the declared API prefixes they have no business.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST = re.compile(r'"(?P<method>[A-Z]{3,10}) (?P<path>\S+)(?: HTTP/[\d.]+)?"')


@dataclass
class WriteRequests:
    """Write-method requests outside the allowed path prefixes (last 24 h of an access log)."""

    count: int = 0
    allowed_prefixes: list[str] = field(default_factory=list)
    by_method: dict[str, int] = field(default_factory=dict)
    top_paths: list[tuple[str, int]] = field(default_factory=list)
    top_sources: list[tuple[str, int]] = field(default_factory=list)
    writes_total: int = 0  # every write request in the window, allowed ones included
    without_timestamp: int = 0
    files: list[str] = field(default_factory=list)


def count_unexpected_writes(lines: list[str], allowed: list[str], *,
                            now: dt.datetime | None = None) -> WriteRequests:
    """POST/PUT/PATCH/DELETE requests whose path starts with none of ``allowed``.

    The path is compared without its query string and after percent-decoding, so
    ``/api%2F..%2Fadmin`` is not taken for an API call.

    >>> count_unexpected_writes(['1.2.3.4 - - [02/Jan/2026:10:00:00 +0000] "POST /wp-login.php '
    ...     'HTTP/1.1" 404 0'], ["/api/"], now=parse_ts("2026-01-02T11:00:00Z")).count
    1
    """
    now = now or dt.datetime.now(dt.UTC)
    out = WriteRequests(allowed_prefixes=list(allowed))
    methods: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for line in lines:
        m = _REQUEST.search(line)
        if not m or m.group("method") not in WRITE_METHODS:
            continue
        ts = parse_ts(line)
        if ts is not None:
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=dt.UTC)
            if now - ts > WINDOW:
                continue
        else:
            out.without_timestamp += 1
        out.writes_total += 1
        raw_path = m.group("path").split("?", 1)[0]
        path = unquote_plus(raw_path)
        if "/../" not in path and any(path.startswith(p) for p in allowed):
            continue
        out.count += 1
        methods[m.group("method")] += 1
        paths[redact_text(raw_path)[:120]] += 1
        sources[source_of(line)] += 1
    out.by_method = dict(methods)
    out.top_paths = paths.most_common(5)
    out.top_sources = sources.most_common(5)
    return out
