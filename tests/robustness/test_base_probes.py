"""The base probes against hostile targets: broken within timeout plus a small margin,
bounded memory, one-sentence reasons."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from opsverify.errors import ProbeError
from opsverify.probes import http as http_probe
from opsverify.probes import postgres as pg_probe
from opsverify.probes import redis as redis_probe
from tests.robustness import hostile

TIMEOUT = 1.0
MARGIN = 1.5


def _broken_in_time(fn: Callable[[], object], fragment: str) -> float:
    start = time.monotonic()
    with pytest.raises(ProbeError) as err:
        fn()
    took = time.monotonic() - start
    assert took < TIMEOUT + MARGIN, f"took {took:.1f}s"
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    return took


@pytest.mark.parametrize(("handler", "scheme", "fragment"), [
    (hostile.silent, "http", "no response within"),
    (hostile.silent, "https", "within"),
    (hostile.dribble, "http", "within"),
    (hostile.garbage, "http", "127.0.0.1"),
    (hostile.garbage, "https", "TLS handshake"),
    (hostile.close_after_first_packet, "http", "127.0.0.1"),
], ids=["silent-http", "stalled-tls-handshake", "dribble", "garbage-http", "garbage-tls",
        "hangup"])
def test_http_probe_is_broken_in_time(handler: hostile.Handler, scheme: str,
                                      fragment: str) -> None:
    with hostile.serve(handler) as port, http_probe.new_session() as session:
        url = f"{scheme}://127.0.0.1:{port}/health"
        _broken_in_time(lambda: http_probe.fetch(session, url, target="t", timeout_s=TIMEOUT),
                        fragment)


def test_http_probe_caps_a_2gb_body() -> None:
    with hostile.serve(hostile.endless_body) as port, http_probe.new_session() as session:
        start = time.monotonic()
        obs = http_probe.fetch(session, f"http://127.0.0.1:{port}/", target="t",
                               timeout_s=TIMEOUT, max_body=1024 * 1024)
        assert obs.body_truncated and len(obs.body) == 1024 * 1024
        assert time.monotonic() - start < TIMEOUT + MARGIN


def test_http_probe_refused_port() -> None:
    with hostile.serve(hostile.silent) as port:
        pass
    with http_probe.new_session() as session:
        _broken_in_time(lambda: http_probe.fetch(session, f"http://127.0.0.1:{port}/",
                                                 target="t", timeout_s=TIMEOUT),
                        "cannot connect")


@pytest.mark.parametrize("handler", [hostile.silent, hostile.garbage,
                                     hostile.close_after_first_packet],
                         ids=["silent", "garbage", "hangup"])
def test_postgres_probe_is_broken_in_time(handler: hostile.Handler) -> None:
    with hostile.serve(handler) as port:
        dsn = f"postgresql://monitor:pw-{port}@127.0.0.1:{port}/app?sslmode=disable"
        _broken_in_time(lambda: pg_probe.connect(dsn, target="main", timeout_s=TIMEOUT),
                        "PostgreSQL")


@pytest.mark.parametrize("handler", [hostile.silent, hostile.garbage,
                                     hostile.close_after_first_packet],
                         ids=["silent", "garbage", "hangup"])
def test_redis_probe_is_broken_in_time(handler: hostile.Handler) -> None:
    with hostile.serve(handler) as port:
        client = redis_probe.connect(f"redis://:hostilepw@127.0.0.1:{port}/0", target="cache",
                                     timeout_s=TIMEOUT)
        _broken_in_time(lambda: redis_probe.call(client, "PING", target="cache"), "Redis")
