"""Redis clients for observation only: timeouts on connect and on every command, no writes."""

from __future__ import annotations

import redis

from opsverify.errors import ProbeError
from opsverify.redact import redact_text


def connect(url: str, *, target: str, timeout_s: float) -> redis.Redis:
    """A client with connect and command timeouts; nothing is sent until first use."""
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            decode_responses=True,
            client_name="opsverify",
        )
    except ValueError as exc:
        raise ProbeError(target, f"invalid Redis URL: {redact_text(str(exc))}") from None


def describe(exc: BaseException) -> str:
    return redact_text(" ".join(str(exc).split()) or type(exc).__name__)[:300]


def call(client: redis.Redis, *args: str, target: str) -> object:
    """Run one read-only command; connection failures and protocol garbage are ProbeErrors."""
    try:
        return client.execute_command(*args)
    except redis.AuthenticationError as exc:
        raise ProbeError(target, f"Redis authentication failed: {describe(exc)}") from None
    except redis.TimeoutError:
        raise ProbeError(target, "Redis did not answer within the timeout") from None
    except redis.ConnectionError as exc:
        raise ProbeError(target, f"cannot connect to Redis: {describe(exc)}") from None
    except redis.ResponseError as exc:
        raise ProbeError(target, f"Redis refused {args[0]}: {describe(exc)}") from None
    except redis.RedisError as exc:
        raise ProbeError(target, f"Redis protocol error: {describe(exc)}") from None
