"""The TLS probe against real TLS servers on loopback (certificates from the sandbox PKI).

No mocks: each test serves real certificates with Python's ssl module (or raw bytes where a
server must misbehave in a way OpenSSL will not), and the probe talks to it over TCP.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checks.tls.common import expiry_problem
from checks.tls.targets import https_origins, tls_endpoints
from opsverify.errors import ProbeError
from opsverify.inventory import Inventory
from opsverify.probes import tls
from opsverify.sandbox import pki
from opsverify.sandbox.base import Sandbox
from tests.robustness.hostile import serve, silent


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Issued]:
    """A CA and the certificates the tests serve: healthy, self-signed, leaf-only."""
    sb = Sandbox(state_dir=tmp_path_factory.mktemp("pki"))
    pki.create_ca(sb)
    return {
        "good": pki.issue_leaf(sb, "good", hostnames=("app.test", "127.0.0.1")),
        "self": pki.issue_leaf(sb, "self", hostnames=("app.test",), self_signed=True),
        "bare": pki.issue_leaf(sb, "bare", hostnames=("app.test",), include_intermediate=False,
                               key_type="ec", key_size=256),
    }


def _tls_handler(issued: pki.Issued, prefix: Callable[[socket.socket], bool] | None = None,
                 min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
                 ) -> Callable[[socket.socket, threading.Event], None]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = min_version
    ctx.load_cert_chain(issued.chain, issued.key)

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(5)
        if prefix is not None and not prefix(conn):
            return
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)  # until the client closes
        except (ssl.SSLError, OSError):
            pass

    return handle


@pytest.fixture
def tls_server(material: dict[str, pki.Issued]) -> Iterator[Callable[..., int]]:
    ports: list[object] = []

    def start(kind: str = "good", **kw: object) -> int:
        cm = serve(_tls_handler(material[kind], **kw))  # type: ignore[arg-type]
        ports.append(cm)
        return cm.__enter__()

    yield start
    for cm in ports:
        cm.__exit__(None, None, None)  # type: ignore[attr-defined]


def _ep(port: int, ca: Path | None, sni: str = "app.test", **kw: object) -> tls.Endpoint:
    return tls.Endpoint(name="t", host="127.0.0.1", port=port, sni=sni,
                        ca_file=str(ca) if ca else None, **kw)  # type: ignore[arg-type]


def test_healthy_chain_is_observed_and_trusted(tls_server, material) -> None:
    obs = tls.observe(_ep(tls_server("good"), material["good"].ca), timeout_s=3)
    assert obs.trusted and obs.verify_error is None
    assert obs.protocol == "TLSv1.3"
    assert [c.common_name for c in obs.chain] == ["app.test", "opsverify sandbox intermediate CA"]
    assert len(obs.verified_chain) == 3
    leaf = obs.leaf
    assert leaf.key_type == "RSA" and leaf.key_size == 2048
    assert leaf.signature_hash == "sha256" and 89 < leaf.days_left() < 91
    assert tls.hostname_matches(leaf.sans_dns, leaf.sans_ip, "127.0.0.1")
    summary = obs.summary()
    assert {"negotiated_protocol", "cipher", "leaf", "served_chain_above_leaf",
            "earliest_expiry_in_chain"} <= set(summary)
    assert summary["leaf"]["sha256_fingerprint"].count(":") == 31


def test_untrusted_chains_are_still_observed(tls_server, material) -> None:
    obs = tls.observe(_ep(tls_server("self"), material["good"].ca), timeout_s=3)
    assert not obs.trusted and "self-signed" in (obs.verify_error or "")
    assert obs.leaf.self_signed
    bare = tls.observe(_ep(tls_server("bare"), material["good"].ca), timeout_s=3)
    assert not bare.trusted and len(bare.chain) == 1
    assert bare.leaf.key_type == "EC secp256r1" and bare.leaf.key_size == 256
    # without a CA file the system store is the anchor: the sandbox CA is unknown there
    system = tls.observe(_ep(tls_server("good"), None), timeout_s=3)
    assert not system.trusted and system.trust_anchor == "system trust store"


def test_protocol_probes_see_what_the_server_allows(tls_server, material) -> None:
    modern = tls.protocol_support(_ep(tls_server("good"), None), timeout_s=3)
    assert modern.accepted() == ["TLSv1.2", "TLSv1.3"]
    assert {r.protocol for r in modern.results if r.accepted is False} == {
        "SSLv3", "TLSv1", "TLSv1.1"}
    # A server that allows TLS 1.0 at SECLEVEL=0 must be seen accepting it.
    def legacy_handler(conn: socket.socket, stop: threading.Event) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with pytest.warns(DeprecationWarning):
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.load_cert_chain(material["good"].chain, material["good"].key)
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError):
            pass

    with serve(legacy_handler) as port:
        legacy = tls.protocol_support(_ep(port, None), timeout_s=3,
                                      protocols=("TLSv1", "TLSv1.1"))
    assert legacy.accepted() == ["TLSv1", "TLSv1.1"]


def test_ssl3_hello_is_parsed_raw() -> None:
    def ssl3_server(conn: socket.socket, stop: threading.Event) -> None:
        conn.recv(4096)
        hello = b"\x02" + b"\x00\x00\x26" + b"\x03\x00" + b"\x00" * 32 + b"\x00\x00\x2f\x00"
        conn.sendall(b"\x16\x03\x00" + struct.pack("!H", len(hello)) + hello)

    with serve(ssl3_server) as port:
        assert tls.protocol_support(_ep(port, None), timeout_s=2,
                                    protocols=("SSLv3",)).accepted() == ["SSLv3"]


def test_stalled_handshake_is_broken_within_timeout() -> None:
    with serve(silent) as port:
        start = time.monotonic()
        with pytest.raises(ProbeError, match=r"did not complete within 0\.5s"):
            tls.observe(_ep(port, None), timeout_s=0.5)
        assert time.monotonic() - start < 1.5


def test_refused_port_is_broken() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProbeError, match="cannot connect"):
        tls.observe(_ep(port, None), timeout_s=1)


def _pg_prefix(answer: bytes) -> Callable[[socket.socket], bool]:
    def prefix(conn: socket.socket) -> bool:
        assert conn.recv(8) == tls.PG_SSL_REQUEST
        conn.sendall(answer)
        return answer == b"S"

    return prefix


def test_postgres_starttls(tls_server, material) -> None:
    port = tls_server("good", prefix=_pg_prefix(b"S"))
    obs = tls.observe(_ep(port, material["good"].ca, sni="127.0.0.1", starttls="postgres"),
                      timeout_s=3)
    assert obs.trusted and obs.protocol.startswith("TLSv1.")
    port_n = tls_server("good", prefix=_pg_prefix(b"N"))
    with pytest.raises(tls.TlsNotOffered, match="'N'"):
        tls.observe(_ep(port_n, None, starttls="postgres"), timeout_s=3)


def test_cert_files_and_keys(material, tmp_path: Path) -> None:
    good, other = material["good"], material["bare"]
    ok = tls.read_cert_file("f", good.chain, good.key)
    assert ok.key_matches and len(ok.certs) == 2
    assert "PRIVATE" not in str(ok.summary())
    assert tls.read_cert_file("f", good.chain, other.key).key_matches is False
    with pytest.raises(ProbeError, match="cannot read certificate file"):
        tls.read_cert_file("f", tmp_path / "missing.crt")
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate")
    with pytest.raises(ProbeError, match="no readable certificate"):
        tls.read_cert_file("f", junk)


def test_hostname_matching_rules() -> None:
    m = tls.hostname_matches
    assert m(["app.test"], [], "APP.test.")
    assert m(["*.example.test"], [], "a.example.test")
    assert not m(["*.example.test"], [], "example.test")
    assert not m(["*.example.test"], [], "a.b.example.test")
    assert m([], ["::1"], "::1") and not m(["127.0.0.1"], [], "127.0.0.1")


def test_expiry_wording_states_leaf_and_chain(material) -> None:
    now = dt.datetime.now(dt.UTC)
    obs = tls.read_cert_file("f", material["good"].chain)
    later = now + dt.timedelta(days=85)
    msg = expiry_problem("f", obs.certs, 7, "cert_fail_days", later, "file", not_yet_valid=True)
    assert msg is not None and "expires in 5.0 days" in msg and "earliest expiry" in msg
    assert expiry_problem("f", obs.certs, 7, "cert_fail_days", now, "file",
                          not_yet_valid=True) is None


def test_targets_deduplicate_endpoints() -> None:
    inv = Inventory.model_validate({
        "tls": [{"name": "front", "host": "127.0.0.1", "port": 8443,
                 "server_name": "app.test"}],
        "http": [
            {"name": "a", "url": "https://app.test:8443/health", "resolve": "127.0.0.1"},
            {"name": "b", "url": "https://app.test:8443/api", "resolve": "127.0.0.1"},
            {"name": "c", "url": "https://other.test/"},
            {"name": "d", "url": "http://plain.test/"},
        ],
    })
    targets = dict(tls_endpoints(inv))
    assert list(targets) == ["front", "other.test:443"]
    assert "http items a, b" in targets["front"].source
    assert [n for n, _ in https_origins(inv)] == ["app.test:8443@127.0.0.1", "other.test"]
