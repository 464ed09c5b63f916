"""HTTP(S) observations with hard limits: timeouts, a capped body, verification always on.

``resolve`` connects to a given address while keeping the URL's host for SNI, the Host header
and the certificate name, so one node behind a balancer can be checked.
"""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from opsverify.errors import ProbeError
from opsverify.redact import redact_text

MAX_BODY = 1024 * 1024
USER_AGENT = "opsverify (operational verification; read-only)"


@dataclass
class HttpObservation:
    url: str
    method: str
    status: int
    reason: str
    headers: dict[str, str]
    elapsed_ms: float
    body: bytes = field(repr=False, default=b"")
    body_truncated: bool = False
    redirect_to: str | None = None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def summary(self) -> dict[str, Any]:
        """Evidence form: status, timing, headers and the start of the body."""
        return {
            "url": self.url,
            "method": self.method,
            "status": self.status,
            "reason": self.reason,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "headers": self.headers,
            "body_start": self.text()[:2000],
            "body_truncated": self.body_truncated,
        }


class _Watchdog:
    """Enforces a total deadline on one request: requests' read timeout is per socket read, so
    a server dribbling one byte per second would otherwise hold a check forever. When the
    deadline passes, the sockets the request opened are shut down and the blocked read ends."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._conns: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def track(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._conns.append(conn)
        if self.fired:
            self._fire()

    def _fire(self) -> None:
        self.fired = True
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG: contextvars.ContextVar[_Watchdog | None] = contextvars.ContextVar(
    "opsverify_http_watchdog", default=None
)


@contextmanager
def _deadline(seconds: float) -> Iterator[_Watchdog]:
    wd = _Watchdog(seconds)
    token = _WATCHDOG.set(wd)
    wd._timer.start()
    try:
        yield wd
    finally:
        wd._timer.cancel()
        _WATCHDOG.reset(token)


class _Watched:
    """Mixin: register the connection with the current request's watchdog, on connect and on
    reuse (a pooled keep-alive connection is reused without connect())."""

    def _track(self) -> None:
        wd = _WATCHDOG.get()
        if wd is not None:
            wd.track(self)  # type: ignore[arg-type]

    def connect(self) -> None:
        self._track()
        super().connect()  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        self._track()
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections honour the per-request watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool, "https": _WatchedHTTPSPool
        }


class _PinnedAdapter(_WatchedAdapter):
    """Connects to a fixed address but verifies the certificate against ``hostname``."""

    def __init__(self, hostname: str, **kwargs: Any) -> None:
        self._hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def new_session(pool_maxsize: int = 16) -> requests.Session:
    s = requests.Session()
    adapter = _WatchedAdapter(pool_connections=32, pool_maxsize=pool_maxsize, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = USER_AGENT
    s.trust_env = False  # never route a verification through a proxy from the environment
    return s


def _pin(session: requests.Session, url: str, resolve: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port
    addr = f"[{resolve}]" if ":" in resolve else resolve
    netloc = f"{addr}:{port}" if port else addr
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    prefix = f"{parts.scheme}://{netloc}/"
    if prefix not in session.adapters:
        session.mount(prefix, _PinnedAdapter(host, max_retries=0))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return pinned, host_header


def fetch(
    session: requests.Session,
    url: str,
    *,
    target: str,
    timeout_s: float,
    method: str = "GET",
    ca_file: str | None = None,
    resolve: str | None = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    max_body: int = MAX_BODY,
    allow_redirects: bool = False,
    auth: tuple[str, str] | None = None,
) -> HttpObservation:
    """One request with connect/read timeouts, a total deadline on the body and a size cap.

    Raises ProbeError when the target cannot be observed (refused, timeout, TLS failure).
    """
    hdrs = dict(headers or {})
    request_url = url
    if resolve:
        request_url, hdrs["Host"] = _pin(session, url, resolve)
    verify: bool | str = ca_file if ca_file else True
    with _deadline(timeout_s + 0.5) as watchdog:
        try:
            return _fetch(session, request_url, url, method, hdrs, data, verify, timeout_s,
                          max_body, allow_redirects, auth, target)
        except ProbeError:
            if watchdog.fired:
                raise ProbeError(target, f"{url} did not complete its response within "
                                         f"{timeout_s:g}s (server too slow or stalled)") from None
            raise


def _fetch(session: requests.Session, request_url: str, url: str, method: str,
           hdrs: dict[str, str], data: bytes | None, verify: bool | str, timeout_s: float,
           max_body: int, allow_redirects: bool, auth: tuple[str, str] | None,
           target: str) -> HttpObservation:
    start = time.perf_counter()
    deadline = start + timeout_s
    try:
        resp = session.request(
            method,
            request_url,
            headers=hdrs,
            data=data,
            timeout=(min(timeout_s, 10.0), timeout_s),
            verify=verify,
            stream=True,
            allow_redirects=allow_redirects,
            auth=auth,
        )
    except requests.exceptions.SSLError as exc:
        raise ProbeError(target, f"TLS handshake with {url} failed: {_why(exc)}") from None
    except requests.exceptions.ConnectTimeout:
        raise ProbeError(target, f"connect to {url} timed out after {timeout_s:g}s") from None
    except requests.exceptions.ReadTimeout:
        raise ProbeError(target, f"{url} sent no response within {timeout_s:g}s") from None
    except requests.exceptions.ConnectionError as exc:
        raise ProbeError(target, f"cannot connect to {url}: {_why(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise ProbeError(target, f"request to {url} failed: {_why(exc)}") from None
    try:
        chunks: list[bytes] = []
        size = 0
        truncated = False
        for chunk in resp.iter_content(chunk_size=65536):
            chunks.append(chunk)
            size += len(chunk)
            if size >= max_body:
                truncated = True
                break
            if time.perf_counter() > deadline:
                raise ProbeError(target, f"{url} did not finish its response within "
                                         f"{timeout_s:g}s")
        body = b"".join(chunks)[:max_body]
    except requests.exceptions.RequestException as exc:
        raise ProbeError(target, f"reading the response of {url} failed: {_why(exc)}") from None
    finally:
        resp.close()
    elapsed_ms = (time.perf_counter() - start) * 1000
    return HttpObservation(
        url=url,
        method=method,
        status=resp.status_code,
        reason=resp.reason or "",
        headers={k: v for k, v in resp.headers.items()},
        elapsed_ms=elapsed_ms,
        body=body,
        body_truncated=truncated,
        redirect_to=resp.headers.get("Location"),
    )


def _why(exc: BaseException) -> str:
    """The innermost, most specific reason of a requests/urllib3 error, in one line."""
    reason: BaseException = exc
    seen = set()
    while True:
        nxt = getattr(reason, "reason", None) or reason.__cause__ or reason.__context__
        if nxt is None or id(nxt) in seen or not isinstance(nxt, BaseException):
            break
        seen.add(id(nxt))
        reason = nxt
    text = str(reason) or type(reason).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        text = "certificate verify failed: " + text.split("certificate verify failed:")[-1]
    return redact_text(" ".join(text.split()))[:300]
