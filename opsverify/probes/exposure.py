"""What a web origin shows a stranger: security headers, version strings, error pages, files
that must never be served and directory indexes.

Pure analysis functions (headers and bodies in, typed verdicts out) plus :func:`fetch_path`,
which asks for one path and returns a body-free observation: a served ``/.env`` must never
travel into a report, so only its size, hash and the *kind* of content it looks like are kept.

>>> check_headers({"X-Content-Type-Options": "nosniff"}, []).missing
['Strict-Transport-Security', 'Referrer-Policy', 'frame protection (X-Frame-Options or CSP \
frame-ancestors)']
>>> server_disclosure({"Server": "nginx/1.22.1"})
['Server: nginx/1.22.1']
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import requests

from opsverify.probes import http as http_probe

#: Headers every HTTPS origin must send (DESIGN.md, runbooks' nginx hardening); frame
#: protection is judged separately because either of two headers gives it.
BASELINE_HEADERS = ("Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy")
FRAME = "frame protection (X-Frame-Options or CSP frame-ancestors)"
#: Response headers that only tell an attacker what to look up in an exploit database.
DISCLOSING_HEADERS = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Generator")
_VERSION_RE = re.compile(r"\d+\.\d+")
#: Product/version strings in bodies (error pages): nginx/1.22.1, Apache/2.4.57, PHP/8.1 ...
_BODY_VERSION_RE = re.compile(
    r"\b(nginx|Apache|Microsoft-IIS|Jetty|Werkzeug|gunicorn|uvicorn|Express|PHP|Tomcat|"
    r"Apache Tomcat|openresty|Kestrel|lighttpd|Caddy)[/ ]v?\d+(\.\d+)+",
    re.I,
)
#: Marks of a stack trace or a framework's debug page.
STACK_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Python traceback", re.compile(r"Traceback \(most recent call last\)")),
    ("Python frame", re.compile(r'File "[^"]+", line \d+, in ')),
    ("Java stack frame", re.compile(r"\bat [\w$.]+\([\w$]+\.java:\d+\)")),
    ("Java exception", re.compile(r"Exception in thread|java\.lang\.\w+Exception")),
    (".NET stack trace", re.compile(r"at [\w.]+\(.*\) in .+:line \d+|Server Error in '/'")),
    ("Node.js stack frame", re.compile(r"\bat .+ \((/|[A-Z]:\\).+\.[cm]?js:\d+:\d+\)")),
    ("PHP error", re.compile(r"(Fatal error|Warning|Parse error|Notice)</b>?:.+ on line \d+")),
    ("Django debug page", re.compile(r"You're seeing this error because you have <code>DEBUG")),
    ("Rails/Ruby backtrace", re.compile(r"\.rb:\d+:in `")),
    ("Spring whitelabel page", re.compile(r"Whitelabel Error Page")),
    ("Go panic", re.compile(r"goroutine \d+ \[running\]")),
)
#: Marks of a generated directory index (nginx autoindex, Apache, lighttpd, IIS, Python).
LISTING_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("'Index of' page", re.compile(r"<title>\s*Index of\s", re.I)),
    ("'Index of' heading", re.compile(r"<h1>\s*Index of\s", re.I)),
    ("'Directory listing for' page", re.compile(r"Directory listing for ", re.I)),
    ("IIS listing", re.compile(r"\[To Parent Directory\]", re.I)),
    ("parent-directory link", re.compile(r'<a href="\.\./">\.\./</a>', re.I)),
)
#: What a served secret file looks like (only the kind is reported, never the content).
_DOTENV_RE = re.compile(r"^\s*(export\s+)?[A-Z][A-Z0-9_]*\s*=", re.M)
_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("git config", re.compile(r"^\s*\[core\]", re.M)),
    ("git HEAD", re.compile(r"^ref: refs/")),
    ("SQL dump", re.compile(r"(CREATE TABLE|INSERT INTO|PostgreSQL database dump)", re.I)),
    ("server-status page", re.compile(r"Apache Server Status|Server uptime", re.I)),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)


@dataclass
class HeaderReport:
    """Which security headers are there, which are missing or too weak."""

    present: dict[str, str]
    missing: list[str]
    weak: list[str]
    csp: str | None
    frame_protection: str | None


def _get(headers: dict[str, str], name: str) -> str | None:
    low = name.lower()
    for k, v in headers.items():
        if k.lower() == low:
            return v
    return None


def hsts_max_age(value: str | None) -> int | None:
    """``max-age`` of a Strict-Transport-Security value (None when absent or unparsable)."""
    if not value:
        return None
    m = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    return int(m.group(1)) if m else None


def frame_protection(headers: dict[str, str]) -> str | None:
    """``X-Frame-Options: DENY`` or ``CSP frame-ancestors ...``: which one protects, if any."""
    xfo = (_get(headers, "X-Frame-Options") or "").strip().upper()
    if xfo in ("DENY", "SAMEORIGIN"):
        return f"X-Frame-Options: {xfo}"
    csp = _get(headers, "Content-Security-Policy") or ""
    m = re.search(r"frame-ancestors\s+([^;]+)", csp, re.I)
    if m and "*" not in m.group(1).split():
        return f"CSP frame-ancestors {m.group(1).strip()}"
    return None


def check_headers(
    headers: dict[str, str], required: list[str], hsts_min_age_s: int = 31536000
) -> HeaderReport:
    """Judge the security headers of one response against the baseline plus ``required``.

    ``X-Frame-Options`` in ``required`` is satisfied by CSP ``frame-ancestors`` too: both give
    frame protection, and modern sites send only the latter.
    """
    missing: list[str] = []
    weak: list[str] = []
    present: dict[str, str] = {}
    wanted = list(dict.fromkeys([*BASELINE_HEADERS, *required]))
    frame = frame_protection(headers)
    for name in wanted:
        value = _get(headers, name)
        if name.lower() == "x-frame-options":
            continue  # judged as frame protection below
        if value is None:
            missing.append(name)
            continue
        present[name] = value
        if name.lower() == "strict-transport-security":
            age = hsts_max_age(value)
            if age is None or age < hsts_min_age_s:
                weak.append(f"Strict-Transport-Security max-age {age} < {hsts_min_age_s}")
        elif name.lower() == "x-content-type-options" and value.strip().lower() != "nosniff":
            weak.append(f"X-Content-Type-Options is '{value}', not 'nosniff'")
    if frame is None:
        missing.append(FRAME)
    return HeaderReport(
        present=present,
        missing=missing,
        weak=weak,
        csp=_get(headers, "Content-Security-Policy"),
        frame_protection=frame,
    )


def server_disclosure(headers: dict[str, str]) -> list[str]:
    """Headers that give away product versions: a versioned Server, X-Powered-By and kin."""
    found: list[str] = []
    server = _get(headers, "Server")
    if server and _VERSION_RE.search(server):
        found.append(f"Server: {server}")
    for name in DISCLOSING_HEADERS:
        value = _get(headers, name)
        if value is not None:
            found.append(f"{name}: {value}")
    return found


def error_page_leaks(body: str) -> list[str]:
    """Stack-trace marks and product versions in an error page (what each one is, not the page)."""
    found = [label for label, rx in STACK_MARKERS if rx.search(body)]
    found += [f"server version '{m.group(0)}'" for m in _BODY_VERSION_RE.finditer(body)][:3]
    return found


def listing_marks(body: str) -> list[str]:
    return [label for label, rx in LISTING_MARKERS if rx.search(body)]


def content_kind(body: bytes) -> str:
    """What a body looks like, named without quoting it: 'dotenv file (3 KEY=value lines)'."""
    text = body[:65536].decode("utf-8", "replace")
    for label, rx in _SIGNATURES:
        if rx.search(text):
            return label
    n = len(_DOTENV_RE.findall(text))
    if n and "<html" not in text.lower():
        return f"dotenv-like file ({n} KEY=value lines)"
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return "HTML page"
    return "other content" if body else "empty body"


@dataclass
class PathObservation:
    """One path of an origin, without its body: status, size, hash, kind of content."""

    url: str
    status: int
    content_type: str
    length: int
    sha256: str
    kind: str
    location: str | None = None
    leaks: list[str] = field(default_factory=list)
    listing: list[str] = field(default_factory=list)


def random_missing_path() -> str:
    """A path no site has: its answer is the site's error page (or its SPA fallback)."""
    return f"/opsverify-missing-{secrets.token_hex(6)}"


def fetch_path(
    session: requests.Session,
    origin: str,
    path: str,
    *,
    target: str,
    timeout_s: float,
    ca_file: str | None = None,
    resolve: str | None = None,
) -> PathObservation:
    """GET ``origin + path`` once, no redirects followed; the body is judged here and dropped
    (a served ``/.env`` must not survive in any variable a traceback could show)."""
    url = origin.rstrip("/") + path
    obs = http_probe.fetch(
        session, url, target=target, timeout_s=timeout_s, ca_file=ca_file, resolve=resolve,
        max_body=256 * 1024,
    )
    text = obs.body[:65536].decode("utf-8", "replace")
    return PathObservation(
        url=url,
        status=obs.status,
        content_type=_get(obs.headers, "Content-Type") or "",
        length=len(obs.body),
        sha256=hashlib.sha256(obs.body).hexdigest(),
        kind=content_kind(obs.body),
        location=obs.redirect_to,
        leaks=error_page_leaks(text),
        listing=listing_marks(text),
    )


def headers_evidence(obs: http_probe.HttpObservation) -> dict[str, Any]:
    """Status and response headers of a probe (no body: headers are what is judged)."""
    return {"url": obs.url, "status": obs.status, "headers": obs.headers}
