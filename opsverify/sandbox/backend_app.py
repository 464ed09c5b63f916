"""The sandbox's backend: a small WSGI application shaped like the reference systems' APIs.

Served by gunicorn (one worker, threads, so the prometheus_client default registry is the whole
truth). Routes: ``/health``, ``/ready`` (really queries PostgreSQL and Redis), ``/metrics``,
``/api/studies`` (reads the database), ``/api/login`` (logs failed logins), ``/api/upload``,
``/api/version``, ``/grafana/login`` (Grafana's JSON login API) and ``/portal/login`` (an HTML
form login); the last two accept only the accounts of the ``grafana_logins`` / ``form_logins``
knobs (none by default).

Faults flip its behaviour without a restart through a JSON control file re-read when it changes
(``health_status``, ``ready_fail``, ``slow_ms``, ``error_rate``, ``version``,
``metrics_hidden``). The configuration
(DSN, Redis URL, paths) comes from the JSON file named by ``OPSVERIFY_BACKEND_CONFIG``.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

CONFIG: dict[str, Any] = json.loads(
    Path(os.environ.get("OPSVERIFY_BACKEND_CONFIG", "/nonexistent")).read_text()
    if os.environ.get("OPSVERIFY_BACKEND_CONFIG")
    else "{}"
)
DEFAULT_VERSION = "1.4.2"
ROUTES = (
    "/health",
    "/ready",
    "/metrics",
    "/api/studies",
    "/api/login",
    "/api/upload",
    "/api/version",
    "/grafana/login",
    "/portal/login",
)

REQUESTS = Counter(
    "http_requests_total", "HTTP requests by method, route and status", ["method", "path", "status"]
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by route",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

log = logging.getLogger("sandbox.backend")
if CONFIG.get("log_dir"):
    Path(CONFIG["log_dir"]).mkdir(parents=True, exist_ok=True)
    _handler = logging.FileHandler(Path(CONFIG["log_dir"]) / "app.log")
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class Control:
    """The fault knobs, re-read only when the control file changes (one stat per request).

    Writers replace the file atomically, so (inode, mtime, size) changes with every write even
    within one timestamp tick.
    """

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._key: tuple[int, int, int] = (-1, -1, -1)
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            st = self.path.stat()
        except OSError:
            return {}
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._key:
                try:
                    self._data = json.loads(self.path.read_text() or "{}")
                    self._key = key
                except (OSError, ValueError):
                    pass  # a half-written file: keep the previous knobs
            return dict(self._data)


CONTROL = Control(CONFIG.get("control_file"))


def _json(start: StartResponse, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _client_ip(environ: Environ) -> str:
    fwd = environ.get("HTTP_X_FORWARDED_FOR", "")
    return fwd.split(",")[0].strip() if fwd else str(environ.get("REMOTE_ADDR", "-"))


def _db() -> psycopg.Connection[Any]:
    return psycopg.connect(CONFIG["database_url"], connect_timeout=3)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(CONFIG["redis_url"], socket_timeout=3, socket_connect_timeout=3)


def health(environ: Environ, start: StartResponse) -> list[bytes]:
    status = CONTROL.get().get("health_status", "healthy")
    return _json(start, "200 OK", {"status": status, "version": _version()})


def ready(environ: Environ, start: StartResponse) -> list[bytes]:
    checks: dict[str, str] = {}
    if CONTROL.get().get("ready_fail"):
        checks["control"] = "forced failure"
    try:
        with _db() as conn:
            conn.execute("SELECT 1 FROM alembic_version LIMIT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        _redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for k, v in checks.items() if k != "control") and "control" not in checks
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return _json(start, "200 OK" if ok else "503 Service Unavailable", body)


def _dependency(name: str, probe: Callable[[], object]) -> Callable[..., list[bytes]]:
    """``/health/<name>``: really queries that dependency (regulatory assistant's backend)."""

    def handler(environ: Environ, start: StartResponse) -> list[bytes]:
        try:
            probe()
        except Exception as exc:
            return _json(start, "503 Service Unavailable",
                         {"status": "unhealthy", name: f"error: {type(exc).__name__}"})
        return _json(start, "200 OK", {"status": "healthy", name: "ok"})

    return handler


def _query_db() -> None:
    with _db() as conn:
        conn.execute("SELECT 1")


def _ping_redis() -> None:
    _redis().ping()


def _hide_families(data: bytes, prefixes: list[str]) -> bytes:
    """Drop the families whose names start with one of ``prefixes`` (``metrics_hidden`` knob:
    an exporter that lost a family after a refactor, while /metrics still answers 200)."""
    keep = []
    for line in data.decode().splitlines():
        parts = line.split()
        name = parts[2] if line.startswith("# ") and len(parts) > 2 else line
        if not any(name.startswith(p) for p in prefixes):
            keep.append(line)
    return ("\n".join(keep) + "\n").encode()


def metrics(environ: Environ, start: StartResponse) -> list[bytes]:
    data = generate_latest()
    hidden = CONTROL.get().get("metrics_hidden")
    if hidden:
        data = _hide_families(data, [str(h) for h in hidden])
    start("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(data)))])
    return [data]


def studies(environ: Environ, start: StartResponse) -> list[bytes]:
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    limit = max(1, min(int((qs.get("limit") or ["50"])[0]), 500))
    with _db() as conn:
        rows = conn.execute(
            "SELECT id, study_uid, modality, size_bytes FROM studies ORDER BY id DESC LIMIT %s",
            (limit,),
        ).fetchall()
        total = conn.execute("SELECT count(*) FROM studies").fetchone()
    items = [{"id": r[0], "study_uid": r[1], "modality": r[2], "size_bytes": r[3]} for r in rows]
    return _json(start, "200 OK", {"total": total[0] if total else 0, "items": items})


def _credentials(environ: Environ) -> tuple[str, str]:
    """User and password from Basic auth, a JSON body or a form body (probes use any of them)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            return user, pw
        except ValueError:
            return "", ""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(min(length, 65536)) if length else b""
    ctype = environ.get("CONTENT_TYPE", "")
    if "json" in ctype:
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
    else:
        data = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
    user = str(data.get("username") or data.get("user") or data.get("email") or "")
    return user, str(data.get("password") or "")


def login(environ: Environ, start: StartResponse) -> list[bytes]:
    """Every login fails: the sandbox has no usable account (default credentials must not work)."""
    if environ["REQUEST_METHOD"] != "POST":
        return _json(start, "405 Method Not Allowed", {"error": "use POST"})
    user, _password = _credentials(environ)
    log.warning("failed login for user=%s from ip=%s", user or "-", _client_ip(environ))
    return _json(start, "401 Unauthorized", {"error": "invalid credentials"})


def _accepts(knob: str, user: str, password: str) -> bool:
    """Whether the accounts of control knob ``knob`` ({user: password}) hold this login."""
    accounts = CONTROL.get().get(knob) or {}
    expected = accounts.get(user) if isinstance(accounts, dict) and user else None
    return expected is not None and hmac.compare_digest(str(expected), password)


def _body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(min(length, 65536)) if length else b""


def grafana_login(environ: Environ, start: StartResponse) -> list[bytes]:
    """Grafana's login API: POST {"user", "password"} as JSON; 200 {"message": "Logged in"} with a
    ``grafana_session`` cookie on success, 401 otherwise (knob ``grafana_logins``)."""
    if environ["REQUEST_METHOD"] != "POST":
        return _json(start, "405 Method Not Allowed", {"message": "use POST"})
    try:
        data = json.loads(_body(environ) or b"{}")
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if not _accepts("grafana_logins", str(data.get("user") or ""),
                    str(data.get("password") or "")):
        return _json(start, "401 Unauthorized", {"message": "Invalid username or password"})
    body = json.dumps({"message": "Logged in", "redirectUrl": "/grafana/"}).encode()
    start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                     ("Set-Cookie", f"grafana_session={uuid.uuid4().hex}; Path=/grafana; "
                                    "HttpOnly; SameSite=Lax")])
    return [body]


LOGIN_FORM = (b'<!doctype html><title>Portal login</title><form method="post" '
              b'action="/portal/login"><input name="j_username"><input type="password" '
              b'name="j_password"><button>Sign in</button></form>\n')


def form_login(environ: Environ, start: StartResponse) -> list[bytes]:
    """An HTML form login (fields ``j_username``/``j_password``): 302 to ``/portal/`` with a
    ``portal_session`` cookie on success, 302 back to the form otherwise (knob ``form_logins``)."""
    if environ["REQUEST_METHOD"] == "GET":
        start("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(LOGIN_FORM)))])
        return [LOGIN_FORM]
    if environ["REQUEST_METHOD"] != "POST":
        return _json(start, "405 Method Not Allowed", {"error": "use GET or POST"})
    form = {k: v[0] for k, v in parse_qs(_body(environ).decode(errors="replace")).items()}
    if _accepts("form_logins", form.get("j_username", ""), form.get("j_password", "")):
        start("302 Found", [("Location", "/portal/"), ("Content-Length", "0"),
                            ("Set-Cookie", f"portal_session={uuid.uuid4().hex}; Path=/portal; "
                                           "HttpOnly")])
    else:
        start("302 Found", [("Location", "/portal/login?error=1"), ("Content-Length", "0")])
    return [b""]


def upload(environ: Environ, start: StartResponse) -> list[bytes]:
    """Store the body under the uploads directory, streaming (DICOM studies are large)."""
    if environ["REQUEST_METHOD"] != "POST":
        return _json(start, "405 Method Not Allowed", {"error": "use POST"})
    updir = Path(CONFIG.get("upload_dir", "/tmp"))
    updir.mkdir(parents=True, exist_ok=True)
    name = f"upload-{uuid.uuid4().hex[:12]}.bin"
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    size = 0
    with open(updir / name, "wb") as fh:
        stream = environ["wsgi.input"]
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            fh.write(chunk)
            size += len(chunk)
            remaining -= len(chunk)
    if remaining > 0:  # the client went away mid-upload (or only probed the size limit)
        (updir / name).unlink(missing_ok=True)
        return _json(start, "400 Bad Request", {"error": "incomplete upload", "bytes": size})
    return _json(start, "201 Created", {"stored": name, "bytes": size})


def _version() -> str:
    return str(CONTROL.get().get("version", DEFAULT_VERSION))


def version(environ: Environ, start: StartResponse) -> list[bytes]:
    return _json(start, "200 OK", {"version": _version()})


HANDLERS: dict[str, Callable[[Environ, StartResponse], list[bytes]]] = {
    "/health": health,
    "/ready": ready,
    "/metrics": metrics,
    "/api/studies": studies,
    "/api/login": login,
    "/api/upload": upload,
    "/api/version": version,
    "/api/health": health,
    "/health/database": _dependency("database", _query_db),
    "/health/redis": _dependency("redis", _ping_redis),
    "/grafana/login": grafana_login,
    "/portal/login": form_login,
}


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """WSGI entry point: route, apply the fault knobs, record metrics."""
    path = environ.get("PATH_INFO", "/") or "/"
    method = environ.get("REQUEST_METHOD", "GET")
    route = path if path in HANDLERS else "other"
    began = time.perf_counter()
    captured: dict[str, str] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = status.split(" ", 1)[0]
        return start_response(status, headers, exc_info)

    knobs = CONTROL.get() if route != "/metrics" else {}
    api = route.startswith("/api/")
    try:
        # slow_paths / error_paths narrow a knob to some routes; by default it hits /api/*.
        slow_paths, error_paths = knobs.get("slow_paths"), knobs.get("error_paths")
        if knobs.get("slow_ms") and (route in slow_paths if slow_paths else api):
            time.sleep(float(knobs["slow_ms"]) / 1000.0)
        failing = route in error_paths if error_paths else api
        if failing and random.random() < float(knobs.get("error_rate") or 0):
            body = _json(start, "500 Internal Server Error", {"error": "injected failure"})
        elif route == "other":
            body = _json(start, "404 Not Found", {"error": "not found"})
        else:
            body = HANDLERS[route](environ, start)
    except Exception as exc:
        log.error("unhandled error on %s %s: %s", method, path, exc)
        body = _json(start, "500 Internal Server Error", {"error": type(exc).__name__})
    # /metrics counts too: Prometheus' own scrapes keep the series present from the start.
    REQUESTS.labels(method, route, captured.get("status", "500")).inc()
    DURATION.labels(method, route).observe(time.perf_counter() - began)
    return body
