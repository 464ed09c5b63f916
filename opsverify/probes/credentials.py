"""Do default credentials still open the door? A handful of attempts, never brute force.

Each function makes at most a few login attempts with credentials everyone knows (the
inventory's declared defaults, a short built-in list for PostgreSQL) and reports whether the
service *accepted* them. Refusals are the healthy outcome; anything that is neither an
acceptance nor a clear refusal is a :class:`ProbeError` (the check is broken, not passed).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import psycopg
import redis
import requests

from opsverify.errors import ProbeError
from opsverify.probes import http as http_probe
from opsverify.redact import redact_text

#: Passwords tried for the ``postgres`` role: the ones installers and tutorials use. Kept short
#: on purpose (each attempt is a failed login in the server's log).
WELL_KNOWN_PG_PASSWORDS = ("postgres", "password", "admin", "changeme")
MAX_PG_ATTEMPTS = 6
#: Server answers that mean "wrong credentials" (any of them is a refusal).
_PG_REFUSALS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "authentication failed",
    "not permitted to log in",
)


@dataclass
class HttpLoginAttempt:
    """One declared login tried against an HTTP endpoint (HTTP basic authentication)."""

    url: str
    user: str
    method: str
    status_with_credentials: int
    status_without_credentials: int | None = None
    verdict: str = ""  # accepted | refused | unprotected


def http_basic_login(
    session: requests.Session,
    url: str,
    user: str,
    password: str,
    *,
    target: str,
    timeout_s: float,
    ca_file: str | None = None,
    resolve: str | None = None,
) -> HttpLoginAttempt:
    """Try ``user:password`` with HTTP basic auth (GET, or POST when GET is not allowed).

    2xx with the credentials is an acceptance, unless the endpoint also answers 2xx without
    any credentials ("unprotected": the login proves nothing, and the page is open). 401/403
    and redirects (to a login page) are refusals. 404/5xx cannot be judged: ProbeError.
    At most three requests.
    """

    def go(method: str, auth: tuple[str, str] | None) -> int:
        body = None
        headers = None
        if method == "POST":  # JSON login APIs read the body; basic-auth ones the header
            creds = {"username": user, "user": user, "password": password} if auth else {}
            body = json.dumps(creds).encode()
            headers = {"Content-Type": "application/json"}
        obs = http_probe.fetch(session, url, target=target, timeout_s=timeout_s, method=method,
                               ca_file=ca_file, resolve=resolve, auth=auth, data=body,
                               headers=headers, max_body=64 * 1024)
        return obs.status

    method = "GET"
    status = go(method, (user, password))
    if status == 405:
        method = "POST"
        status = go(method, (user, password))
    attempt = HttpLoginAttempt(url=url, user=user, method=method, status_with_credentials=status)
    if status in (401, 403) or 300 <= status < 400:
        attempt.verdict = "refused"
        return attempt
    if 200 <= status < 300:
        attempt.status_without_credentials = go(method, None)
        attempt.verdict = (
            "unprotected" if 200 <= attempt.status_without_credentials < 300 else "accepted"
        )
        return attempt
    raise ProbeError(target, f"{url} answered {status} to a {method} login attempt: neither an "
                             "acceptance nor a refusal (is the URL the protected endpoint?)")


# ------------------------------------------------------------------------ form and JSON logins
@dataclass(frozen=True)
class LoginSpec:
    """How a form or JSON login is sent and what proves that it succeeded.

    ``success_cookie``/``success_marker`` are explicit proofs (all given ones must hold). Without
    them (form logins only), a redirect away from the login page is an acceptance, a redirect
    back to it or the form shown again is a refusal, and anything else cannot be judged.
    """

    kind: str  # form | json
    user_field: str
    password_field: str
    success_cookie: str | None = None
    success_marker: str | None = None

    def criterion(self) -> str:
        proofs = [f"cookie {self.success_cookie} set"] if self.success_cookie else []
        if self.success_marker:
            proofs.append(f"'{self.success_marker}' in a 2xx body")
        return " and ".join(proofs) or "redirect away from the login page"


#: ``grafana``: POST /login {"user", "password"} -> 200 {"message": "Logged in"} plus a
#: ``grafana_session`` cookie; 401 on a wrong password.
LOGIN_PRESETS = {
    "form": LoginSpec("form", "username", "password"),
    "json": LoginSpec("json", "username", "password"),
    "grafana": LoginSpec("json", "user", "password", "grafana_session", "Logged in"),
}
#: Last path segments of login pages: a redirect there after a POST is a refusal.
LOGIN_PAGE_NAMES = ("login", "signin", "sign_in", "sign-in", "logon", "log_in", "log-in")
_PASSWORD_INPUT = re.compile(rb"<input[^>]*type\s*=\s*[\"']?password", re.IGNORECASE)
_COOKIE_SPLIT = re.compile(r",\s*(?=[^;,=\s]+=)")  # between cookies, not inside Expires dates


def login_spec(kind: str, *, user_field: str | None = None, password_field: str | None = None,
               success_cookie: str | None = None, success_marker: str | None = None) -> LoginSpec:
    """The preset of ``kind`` with the inventory's overrides applied."""
    base = LOGIN_PRESETS[kind]
    return LoginSpec(base.kind, user_field or base.user_field,
                     password_field or base.password_field,
                     success_cookie or base.success_cookie, success_marker or base.success_marker)


def cookies_set(set_cookie: str | None) -> list[str]:
    """Names of the cookies a (comma-joined) ``Set-Cookie`` header sets to a live value.

    A cookie cleared on the way (empty value, ``Max-Age=0`` or an ``Expires`` in the past, as
    logout and failed logins often do) is not set.
    >>> cookies_set("a=1; Path=/, b=; Max-Age=0, c=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    ['a']
    """
    names: list[str] = []
    for raw in _COOKIE_SPLIT.split(set_cookie or ""):
        first, *attrs = [p.strip() for p in raw.split(";")]
        name, eq, value = first.partition("=")
        if not eq or not name or not value.strip('"'):
            continue
        gone = False
        for attr in attrs:
            key, _, val = attr.partition("=")
            if key.strip().lower() == "max-age":
                gone = val.strip().lstrip("-").isdigit() and int(val) <= 0
            elif key.strip().lower() == "expires":
                with contextlib.suppress(TypeError, ValueError, IndexError):
                    gone = gone or email.utils.parsedate_to_datetime(val).timestamp() < time.time()
        if not gone:
            names.append(name.strip())
    return names


def _back_to_login(login_url: str, location: str) -> bool:
    target = urlsplit(urljoin(login_url, location))
    last = target.path.rstrip("/").rsplit("/", 1)[-1].lower()
    return (target.path.rstrip("/") == urlsplit(login_url).path.rstrip("/")
            or last in LOGIN_PAGE_NAMES or "error" in target.query.lower())


def judge_login(spec: LoginSpec, login_url: str, status: int, location: str | None,
                cookies: list[str], body: bytes) -> tuple[str | None, str]:
    """``("accepted" | "refused" | None, why)`` for one login response; ``None``: cannot judge.

    Never "any 200": a 2xx counts only with the configured proof (cookie, marker) or, for a
    form without one, not at all (the form shown again is a refusal, anything else undecided).
    """
    if status in (401, 403):
        return "refused", f"answered {status}"
    if not 200 <= status < 400:
        return None, f"answered {status}, neither an acceptance nor a refusal"
    redirect = 300 <= status < 400
    if redirect and location and _back_to_login(login_url, location):
        return "refused", f"redirected back to the login page ({location})"
    if spec.success_cookie or spec.success_marker:
        missing = []
        if spec.success_cookie and spec.success_cookie not in cookies:
            missing.append(f"no {spec.success_cookie} cookie set")
        if spec.success_marker and (redirect or spec.success_marker.encode() not in body):
            missing.append(f"no '{spec.success_marker}' in the body")
        if missing:
            return "refused", f"answered {status} with " + " and ".join(missing)
        return "accepted", f"answered {status} with {spec.criterion()}"
    if redirect and location:
        return "accepted", f"redirected away from the login page, to {location}"
    if not redirect and _PASSWORD_INPUT.search(body):
        return "refused", f"answered {status} with the login form again"
    what = "a redirect without Location" if redirect else "neither the login form nor a proof"
    return None, (f"answered {status} with {what} of success: declare success_cookie or "
                  "success_marker for this login")


@dataclass
class FormLoginAttempt:
    """One declared form or JSON login (names of fields and cookies only, never the password)."""

    url: str
    user: str
    kind: str
    fields: list[str]
    criterion: str
    status: int
    redirect_to: str | None
    cookies_set: list[str]
    verdict: str  # accepted | refused
    reason: str
    control: str | None = None  # the same login with a random password, when the first passed


def _post_login(url: str, spec: LoginSpec, user: str, password: str, *, target: str,
                timeout_s: float, ca_file: str | None, resolve: str | None
                ) -> tuple[http_probe.HttpObservation, list[str]]:
    """One POST from a fresh session: no cookie of an earlier attempt (or check) rides along,
    and the session cookie it may get is dropped with it."""
    fields = {spec.user_field: user, spec.password_field: password}
    if spec.kind == "json":
        body, ctype = json.dumps(fields).encode(), "application/json"
    else:
        body, ctype = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    session = http_probe.new_session(pool_maxsize=1)
    try:
        obs = http_probe.fetch(session, url, target=target, timeout_s=timeout_s, method="POST",
                               ca_file=ca_file, resolve=resolve, data=body, max_body=64 * 1024,
                               headers={"Content-Type": ctype, "Accept": "application/json, "
                                        "text/html;q=0.9"})
    finally:
        session.close()
    set_cookie = next((v for k, v in obs.headers.items() if k.lower() == "set-cookie"), None)
    return obs, cookies_set(set_cookie)


def form_login(url: str, user: str, password: str, spec: LoginSpec, *, target: str,
               timeout_s: float, ca_file: str | None = None, resolve: str | None = None
               ) -> FormLoginAttempt:
    """POST ``user``/``password`` as a form or JSON login; judge it with :func:`judge_login`.

    An apparent acceptance is confirmed with one more attempt using a random password: if that
    "succeeds" too, the success criterion proves nothing and the probe says so (ProbeError).
    At most two requests. The password never appears in the result or in errors.
    """
    obs, cookies = _post_login(url, spec, user, password, target=target, timeout_s=timeout_s,
                               ca_file=ca_file, resolve=resolve)
    verdict, why = judge_login(spec, url, obs.status, obs.redirect_to, cookies, obs.body)
    if verdict is None:
        raise ProbeError(target, f"{url}: the {spec.kind} login of '{user}' {why}")
    attempt = FormLoginAttempt(
        url=url, user=user, kind=spec.kind, fields=[spec.user_field, spec.password_field],
        criterion=spec.criterion(), status=obs.status, redirect_to=obs.redirect_to,
        cookies_set=cookies, verdict=verdict, reason=why)
    if verdict == "accepted":
        ctl, ctl_cookies = _post_login(url, spec, user, secrets.token_urlsafe(24), target=target,
                                       timeout_s=timeout_s, ca_file=ca_file, resolve=resolve)
        ctl_verdict, ctl_why = judge_login(spec, url, ctl.status, ctl.redirect_to, ctl_cookies,
                                           ctl.body)
        attempt.control = f"random password: {ctl_verdict or 'undecided'} ({ctl_why})"
        if ctl_verdict != "refused":
            raise ProbeError(target, f"{url}: a random password for '{user}' is not refused "
                                     f"either ({ctl_why}): the success criterion "
                                     f"({spec.criterion()}) cannot tell a login from a refusal; "
                                     "declare success_cookie or success_marker")
    return attempt


@dataclass
class PgPasswordAttempts:
    """Logins tried as one role: how many, which ones (by label) were accepted."""

    host: str
    port: str
    user: str
    tried: list[str]
    accepted: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def _pg_params(dsn: str) -> dict[str, str]:
    try:
        return dict(psycopg.conninfo.conninfo_to_dict(dsn))  # type: ignore[arg-type]
    except psycopg.ProgrammingError as exc:
        raise ProbeError("postgres", f"invalid DSN: {redact_text(str(exc))}") from None


def pg_passwords_accepted(
    dsn: str,
    user: str,
    candidates: list[tuple[str, str]],
    *,
    target: str,
    timeout_s: float,
) -> PgPasswordAttempts:
    """Try each ``(label, password)`` for ``user`` on the server of ``dsn`` (same host, port,
    database and TLS settings); at most :data:`MAX_PG_ATTEMPTS` attempts.

    A session that opens is an acceptance (closed at once, nothing is run). A refusal is any
    authentication error; an unreachable server is a ProbeError.
    """
    params = _pg_params(dsn)
    params.pop("password", None)
    params["user"] = user
    params["connect_timeout"] = str(max(1, round(timeout_s)))
    params["application_name"] = "opsverify-default-credentials"
    result = PgPasswordAttempts(host=params.get("host", "localhost"),
                                port=str(params.get("port", "5432")), user=user, tried=[])
    for label, password in candidates[:MAX_PG_ATTEMPTS]:
        result.tried.append(label)
        try:
            conn = psycopg.connect(**params, password=password, autocommit=True)
        except psycopg.OperationalError as exc:
            text = str(exc).lower()
            if any(r in text for r in _PG_REFUSALS):
                result.refusals.append(label)
                continue
            first = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            raise ProbeError(target, f"cannot connect to PostgreSQL to try default "
                                     f"passwords: {first[:300]}") from None
        conn.close()
        result.accepted.append(label)
    return result


@dataclass
class RedisAuthObservation:
    """Whether Redis runs commands for a client that never authenticated."""

    address: str
    unauthenticated_ping: str  # refused | accepted
    answer: str


def strip_credentials(url: str) -> str:
    """The Redis URL without user, password or ``password=`` query parameter."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(q for q in parts.query.split("&")
                     if q and not q.lower().startswith(("password=", "username=")))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redis_unauthenticated(url: str, *, target: str, timeout_s: float) -> RedisAuthObservation:
    """Send one PING without credentials (RESP2: no HELLO, so nothing authenticates)."""
    bare = strip_credentials(url)
    try:
        client = redis.Redis.from_url(bare, socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s, protocol=2,
                                      retry_on_timeout=False)
    except ValueError as exc:
        raise ProbeError(target, f"invalid Redis URL: {redact_text(str(exc))}") from None
    address = urlsplit(bare).netloc or bare
    try:
        answer = client.execute_command("PING")
        return RedisAuthObservation(address, "accepted", "PONG" if answer is True else str(answer))
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
        return RedisAuthObservation(address, "refused", type(exc).__name__)
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc).upper() or "AUTH" in str(exc).upper():
            return RedisAuthObservation(address, "refused", "NOAUTH")
        raise ProbeError(target, f"Redis answered PING with an error: {exc}") from None
    except redis.TimeoutError:
        raise ProbeError(target, "Redis did not answer within the timeout") from None
    except redis.ConnectionError as exc:
        why = redact_text(str(exc))[:300]
        raise ProbeError(target, f"cannot connect to Redis: {why}") from None
    finally:
        client.close()


def redis_login_accepted(url: str, user: str, password: str, *, target: str,
                         timeout_s: float) -> bool:
    """Whether ``AUTH user password`` succeeds (a declared default login for Redis)."""
    bare = strip_credentials(url)
    client = redis.Redis.from_url(bare, socket_timeout=timeout_s,
                                  socket_connect_timeout=timeout_s, protocol=2)
    try:
        args = ("AUTH", user, password) if user and user != "default" else ("AUTH", password)
        client.execute_command(*args)
        return True
    except (redis.AuthenticationError, redis.ResponseError):
        return False
    except redis.ConnectionError as exc:
        why = redact_text(str(exc))[:300]
        raise ProbeError(target, f"cannot connect to Redis: {why}") from None
    finally:
        client.close()
