"""Do default credentials still open the door? A handful of attempts, never brute force.

Each function makes at most a few login attempts with credentials everyone knows (the
inventory's declared defaults, a short built-in list for PostgreSQL) and reports whether the
service *accepted* them. Refusals are the healthy outcome; anything that is neither an
acceptance nor a clear refusal is a :class:`ProbeError` (the check is broken, not passed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

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
