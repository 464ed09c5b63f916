"""The weak-cipher probe (CRT-014) against real TLS servers on loopback: one refusing every
broken suite, one that also serves NULL and anonymous suites (``HIGH:eNULL:@SECLEVEL=0``)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable

import pytest

from opsverify.probes import tls
from opsverify.sandbox import pki
from opsverify.sandbox.base import Sandbox
from tests.robustness.hostile import serve


@pytest.fixture(scope="module")
def leaf(tmp_path_factory: pytest.TempPathFactory) -> pki.Issued:
    sb = Sandbox(state_dir=tmp_path_factory.mktemp("pki"))
    pki.create_ca(sb)
    return pki.issue_leaf(sb, "good", hostnames=("app.test",))  # RSA: NULL-SHA needs it


def _handler(leaf: pki.Issued, ciphers: str | None
             ) -> Callable[[socket.socket, threading.Event], None]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if ciphers:
        ctx.set_ciphers(ciphers)
    ctx.load_cert_chain(leaf.chain, leaf.key)

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError):
            pass

    return handle


def _ep(port: int) -> tls.Endpoint:
    return tls.Endpoint(name="t", host="127.0.0.1", port=port, sni="app.test")


def test_default_server_refuses_every_testable_weak_group(leaf: pki.Issued) -> None:
    with serve(_handler(leaf, None)) as port:
        obs = tls.weak_cipher_support(_ep(port), timeout_s=3)
    assert obs.accepted() == []
    testable = [r.group for r in obs.results if r.testable]
    assert "NULL (no encryption)" in testable and "anonymous (no authentication)" in testable
    # what this OpenSSL cannot offer is said, not counted as refused
    assert all(r.detail.startswith(ssl.OPENSSL_VERSION) for r in obs.results if not r.testable)
    assert obs.handshakes <= len(tls.WEAK_CIPHER_GROUPS) * tls.MAX_HANDSHAKES_PER_GROUP + 2


def test_null_and_anonymous_suites_are_seen(leaf: pki.Issued) -> None:
    with serve(_handler(leaf, "HIGH:eNULL:@SECLEVEL=0")) as port:
        obs = tls.weak_cipher_support(_ep(port), timeout_s=3)
    by_group = {r.group: r.accepted for r in obs.results}
    assert any("NULL" in c for c in by_group["NULL (no encryption)"])
    assert by_group["anonymous (no authentication)"]
    assert len(by_group["NULL (no encryption)"]) <= tls.MAX_HANDSHAKES_PER_GROUP
