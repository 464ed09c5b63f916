"""TLS observations: the served chain, negotiated protocol and cipher, protocol support, files.

One *observation handshake* per endpoint collects everything the certificate checks need: the
chain exactly as the server sends it (not what a client could rebuild), the protocol and cipher
a modern client negotiates, and whether the chain verifies to the item's trust anchor. That
handshake verifies with OpenSSL itself (``CERT_REQUIRED``, ``@SECLEVEL=0``, no time check) so
"trust" means exactly "who issued it": expiry, key size and SHA-1 are judged by their own checks
and do not turn into a second, confusing "untrusted" finding. When verification fails, a second
handshake without verification fetches the chain so the other checks still see it.

Protocol support is probed with one handshake per version, each with ``minimum_version ==
maximum_version`` and ``@SECLEVEL=0`` on the client, so "refused" means the *server* refused
(OpenSSL 3 clients otherwise refuse TLS 1.0/1.1 on their own). SSL 3 is gone from OpenSSL 3:
it is probed with a hand-built SSL 3 ClientHello and the server's answer is read raw.

Every handshake has a hard deadline (connect + STARTTLS + handshake): the socket is non-blocking
and each wait is bounded by the time left, so a server that stalls mid-handshake is reported
within ``timeout_s``. ``starttls="postgres"`` sends PostgreSQL's SSLRequest first.

>>> hostname_matches(["*.example.test"], [], "app.example.test")
True
>>> hostname_matches(["*.example.test"], [], "a.b.example.test")
False
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import select
import socket
import ssl
import struct
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from opsverify.errors import ProbeError

#: What every handshake of this module offers: all ciphers, no client-side security level, so
#: a weak server certificate or an old protocol is observed rather than refused by us.
CLIENT_CIPHERS = "DEFAULT:@SECLEVEL=0"
#: X509_V_FLAG_NO_CHECK_TIME: verify the issuer chain only; validity dates are judged apart.
_NO_CHECK_TIME = 0x200000
PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
LEGACY_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1")
_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


# ------------------------------------------------------------------------------ observations
@dataclass(frozen=True)
class Endpoint:
    """Where to handshake: connect to ``host:port``, send ``sni`` (and match it).

    ``ca_file`` is the trust anchor (None: the system store). ``source`` says which inventory
    items this endpoint stands for (several https ``http`` items share one endpoint).
    """

    name: str
    host: str
    port: int
    sni: str
    ca_file: str | None = None
    starttls: str | None = None
    source: str = ""

    @property
    def address(self) -> str:
        where = f"{self.host}:{self.port}"
        if self.sni != self.host:
            where += f" (SNI {self.sni})"
        return where + (" via PostgreSQL STARTTLS" if self.starttls == "postgres" else "")


@dataclass(frozen=True)
class CertInfo:
    """One certificate, as an auditor reads it (no key material)."""

    subject: str
    issuer: str
    common_name: str | None
    sans_dns: tuple[str, ...]
    sans_ip: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    serial: str
    sha256: str
    key_type: str
    key_size: int
    signature_algorithm: str
    signature_hash: str | None
    self_signed: bool
    is_ca: bool

    def days_left(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds() / 86400

    def label(self) -> str:
        return f"'{self.common_name or self.subject}'"

    def summary(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": [*self.sans_dns, *self.sans_ip],
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": round(self.days_left(now), 2),
            "serial": self.serial,
            "sha256_fingerprint": self.sha256,
            "key": f"{self.key_type}-{self.key_size}",
            "signature_algorithm": self.signature_algorithm,
            "self_signed": self.self_signed,
            "ca": self.is_ca,
        }


@dataclass(frozen=True)
class TlsObservation:
    """What one endpoint serves, and how a modern client negotiates with it."""

    endpoint: Endpoint
    chain: tuple[CertInfo, ...]  # as served: leaf first
    protocol: str
    cipher: str
    cipher_bits: int
    trusted: bool
    trust_anchor: str  # the CA file, or "system trust store"
    verify_error: str | None  # OpenSSL's reason when ``trusted`` is False
    verified_chain: tuple[str, ...]  # subjects from leaf to the anchor, when trusted
    handshake_ms: float
    observed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def leaf(self) -> CertInfo:
        return self.chain[0]

    def earliest_expiry(self) -> CertInfo:
        return min(self.chain, key=lambda c: c.not_after)

    def summary(self) -> dict[str, Any]:
        """The evidence every TLS result carries."""
        now = self.observed_at
        early = self.earliest_expiry()
        return {
            "endpoint": self.endpoint.address,
            "covers": self.endpoint.source,
            "negotiated_protocol": self.protocol,
            "cipher": f"{self.cipher} ({self.cipher_bits} bits)",
            "trusted": self.trusted,
            "trust_anchor": self.trust_anchor,
            "verify_error": self.verify_error,
            "verified_chain": list(self.verified_chain),
            "leaf": self.leaf.summary(now),
            "earliest_expiry_in_chain": {
                "certificate": early.subject,
                "not_after": early.not_after.isoformat(),
                "days_left": round(early.days_left(now), 2),
            },
            # the rest of the served chain (the leaf is above): issuers as sent, in order
            "served_chain_above_leaf": [c.summary(now) for c in self.chain[1:]],
            "served_chain_length": len(self.chain),
            "handshake_ms": round(self.handshake_ms, 1),
            "observed_at": now.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class ProtocolResult:
    protocol: str
    accepted: bool | None  # None: this client cannot test it
    detail: str


@dataclass(frozen=True)
class ProtocolSupport:
    endpoint: Endpoint
    results: tuple[ProtocolResult, ...]

    def accepted(self) -> list[str]:
        return [r.protocol for r in self.results if r.accepted]

    def summary(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.address,
            "accepted": self.accepted(),
            "refused": [r.protocol for r in self.results if r.accepted is False],
            "untestable": [r.protocol for r in self.results if r.accepted is None],
            "details": {r.protocol: r.detail for r in self.results},
        }


class TlsNotOffered(ProbeError):
    """A STARTTLS server answered that it does not do TLS at all (PostgreSQL: 'N')."""


# ---------------------------------------------------------------------------- certificates
def _name(n: x509.Name) -> str:
    try:
        return n.rfc4514_string()
    except ValueError:
        return repr(n)


def _key_info(cert: x509.Certificate) -> tuple[str, int]:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "unknown", 0
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def cert_info(cert: x509.Certificate) -> CertInfo:
    """Parse the fields an auditor needs from one certificate."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    dns: list[str] = []
    ips: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(v) for v in san.get_values_for_type(x509.DNSName)]
        ips = [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    is_ca = False
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    try:
        sig_hash = cert.signature_hash_algorithm
        sig_hash_name = sig_hash.name if sig_hash is not None else None
    except UnsupportedAlgorithm:
        sig_hash_name = "unknown"
    sig_name = getattr(cert.signature_algorithm_oid, "_name", None) or \
        cert.signature_algorithm_oid.dotted_string
    key_type, key_size = _key_info(cert)
    return CertInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        common_name=str(cns[0].value) if cns else None,
        sans_dns=tuple(dns),
        sans_ip=tuple(ips),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(cert.serial_number, "x"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=sig_name,
        signature_hash=sig_hash_name,
        self_signed=cert.issuer == cert.subject,
        is_ca=is_ca,
    )


def hostname_matches(dns: list[str] | tuple[str, ...], ips: list[str] | tuple[str, ...],
                     name: str) -> bool:
    """RFC 6125 matching of ``name`` against SAN entries (no CN fallback, as browsers do).

    A wildcard covers exactly one leftmost label (``*.example.test`` covers
    ``app.example.test``, not ``example.test`` nor ``a.b.example.test``).
    """
    try:
        addr = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        addr = None
    if addr is not None:
        return any(ipaddress.ip_address(i) == addr for i in ips)
    host = name.rstrip(".").lower()
    for pattern in dns:
        p = pattern.rstrip(".").lower()
        if p == host:
            return True
        if p.startswith("*.") and "." in host:
            head, _, rest = host.partition(".")
            if head and rest == p[2:] and "*" not in rest:
                return True
    return False


# ------------------------------------------------------------------------------ handshakes
class _Deadline:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.end = time.monotonic() + timeout_s

    def left(self) -> float:
        return self.end - time.monotonic()


class _Timeout(Exception):
    pass


def _wait(sock: socket.socket, for_write: bool, deadline: _Deadline) -> None:
    left = deadline.left()
    if left <= 0:
        raise _Timeout
    r, w, _ = select.select([] if for_write else [sock], [sock] if for_write else [], [], left)
    if not r and not w:
        raise _Timeout


def _connect(ep: Endpoint, deadline: _Deadline) -> socket.socket:
    try:
        sock = socket.create_connection((ep.host, ep.port), timeout=max(0.05, deadline.left()))
    except TimeoutError:
        raise ProbeError(ep.name, f"connect to {ep.host}:{ep.port} timed out after "
                                  f"{deadline.timeout_s:g}s") from None
    except OSError as exc:
        raise ProbeError(ep.name, f"cannot connect to {ep.host}:{ep.port}: "
                                  f"{exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def _recv_exact(sock: socket.socket, n: int, deadline: _Deadline) -> bytes:
    data = b""
    while len(data) < n:
        _wait(sock, False, deadline)
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _send_all(sock: socket.socket, data: bytes, deadline: _Deadline) -> None:
    while data:
        _wait(sock, True, deadline)
        data = data[sock.send(data):]


def _starttls(sock: socket.socket, ep: Endpoint, deadline: _Deadline) -> None:
    if ep.starttls != "postgres":
        return
    _send_all(sock, PG_SSL_REQUEST, deadline)
    answer = _recv_exact(sock, 1, deadline)
    if answer == b"N":
        raise TlsNotOffered(ep.name, f"PostgreSQL at {ep.host}:{ep.port} answered the "
                                     "SSLRequest with 'N': TLS is not enabled (ssl = off)")
    if answer != b"S":
        raise ProbeError(ep.name, f"{ep.host}:{ep.port} does not speak the PostgreSQL protocol "
                                  f"(SSLRequest answered {answer[:1]!r})")


def _context(ep: Endpoint, verify: bool, version: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # judged by the hostname check, with its own message
    ctx.set_ciphers(CLIENT_CIPHERS)
    with warnings.catch_warnings():  # deprecated on purpose: we probe for them
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is None:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        else:
            ctx.minimum_version = ctx.maximum_version = _VERSIONS[version]
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.verify_flags |= _NO_CHECK_TIME
        if ep.ca_file:
            try:
                ctx.load_verify_locations(cafile=ep.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ProbeError(ep.name, f"cannot load the CA file {ep.ca_file}: "
                                          f"{getattr(exc, 'strerror', None) or exc}") from None
        else:
            ctx.load_default_certs()
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _served_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """The chain exactly as the server sent it (DER, leaf first).

    Python 3.13 made ``get_unverified_chain`` public; 3.10-3.12 have it on the C object.
    """
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return [bytes(c) for c in public() or []]
    sslobj = tls._sslobj  # type: ignore[attr-defined]
    raw = sslobj.get_unverified_chain() or []
    return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in raw]  # type: ignore[attr-defined]


def _verified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    public = getattr(tls, "get_verified_chain", None)
    if public is not None:
        return [bytes(c) for c in public() or []]
    raw = tls._sslobj.get_verified_chain() or []  # type: ignore[attr-defined]
    return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in raw]  # type: ignore[attr-defined]


def _handshake(ep: Endpoint, ctx: ssl.SSLContext, timeout_s: float) -> ssl.SSLSocket:
    """TCP connect, STARTTLS, TLS handshake, all within ``timeout_s``; the caller closes."""
    deadline = _Deadline(timeout_s)
    sock = _connect(ep, deadline)
    try:
        try:
            _starttls(sock, ep, deadline)
        except _Timeout:
            raise ProbeError(ep.name, f"{ep.host}:{ep.port} did not answer the PostgreSQL "
                                      f"SSLRequest within {timeout_s:g}s") from None
        except OSError as exc:
            raise ProbeError(ep.name, f"STARTTLS with {ep.address} failed: {exc}") from None
        server_hostname = ep.sni if ep.sni else None
        tls = ctx.wrap_socket(sock, server_hostname=server_hostname,
                              do_handshake_on_connect=False)
    except BaseException:
        sock.close()
        raise
    try:
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                _wait(tls, False, deadline)
            except ssl.SSLWantWriteError:
                _wait(tls, True, deadline)
    except _Timeout:
        tls.close()
        raise ProbeError(ep.name, f"TLS handshake with {ep.address} did not complete within "
                                  f"{timeout_s:g}s (server stalled)") from None
    except BaseException:
        tls.close()
        raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def _parse_chain(ep: Endpoint, ders: list[bytes]) -> tuple[CertInfo, ...]:
    if not ders:
        raise ProbeError(ep.name, f"{ep.address} completed the handshake without a certificate")
    try:
        return tuple(cert_info(x509.load_der_x509_certificate(d)) for d in ders)
    except ValueError as exc:
        raise ProbeError(ep.name, f"{ep.address} sent a certificate that cannot be parsed: "
                                  f"{exc}") from None


def observe(ep: Endpoint, *, timeout_s: float) -> TlsObservation:
    """The observation handshake (see the module docstring); ProbeError when impossible."""
    anchor = ep.ca_file or "system trust store"
    start = time.perf_counter()
    verify_error: str | None = None
    try:
        tls = _handshake(ep, _context(ep, verify=True), timeout_s)
    except ssl.SSLCertVerificationError as exc:
        verify_error = _reason(exc)
        tls = None
    except (ssl.SSLError, OSError) as exc:
        raise ProbeError(ep.name, f"TLS handshake with {ep.address} failed: {_reason(exc)}"
                         ) from None
    if tls is None:
        try:
            tls = _handshake(ep, _context(ep, verify=False), timeout_s)
        except (ssl.SSLError, OSError) as exc:
            raise ProbeError(ep.name, f"TLS handshake with {ep.address} failed: "
                                      f"{_reason(exc)}") from None
    try:
        elapsed = (time.perf_counter() - start) * 1000
        chain = _parse_chain(ep, _served_chain(tls))
        verified: tuple[str, ...] = ()
        if verify_error is None:
            with contextlib.suppress(ValueError):
                verified = tuple(_name(x509.load_der_x509_certificate(d).subject)
                                 for d in _verified_chain(tls))
        cipher = tls.cipher() or ("unknown", "", 0)
        return TlsObservation(
            endpoint=ep,
            chain=chain,
            protocol=tls.version() or "unknown",
            cipher=str(cipher[0]),
            cipher_bits=int(cipher[2] or 0),
            trusted=verify_error is None,
            trust_anchor=anchor,
            verify_error=verify_error,
            verified_chain=verified,
            handshake_ms=elapsed,
        )
    finally:
        with contextlib.suppress(OSError):
            tls.close()


# ------------------------------------------------------------------------------- protocols
def _ssl3_client_hello() -> bytes:
    """A minimal SSL 3.0 ClientHello (no extensions; SSL 3 has none)."""
    suites = [0x0035, 0x002F, 0x000A, 0x0005, 0x0004, 0x0009, 0x0016, 0x0039, 0x0033]
    body = (b"\x03\x00" + os.urandom(32) + b"\x00"
            + struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
            + b"\x01\x00")
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x00" + struct.pack("!H", len(handshake)) + handshake


def _probe_ssl3(ep: Endpoint, timeout_s: float) -> ProtocolResult:
    """Send an SSL 3 ClientHello; accepted only if the server answers a ServerHello for 3.0."""
    deadline = _Deadline(timeout_s)
    sock = _connect(ep, deadline)
    try:
        try:
            _starttls(sock, ep, deadline)
            _send_all(sock, _ssl3_client_hello(), deadline)
            head = _recv_exact(sock, 5, deadline)
            if len(head) < 5:
                return ProtocolResult("SSLv3", False, "connection closed on an SSL 3 hello")
            ctype, length = head[0], struct.unpack("!H", head[3:5])[0]
            if ctype == 0x15:
                return ProtocolResult("SSLv3", False, "refused with a TLS alert")
            body = _recv_exact(sock, min(length, 64), deadline)
            if ctype == 0x16 and len(body) >= 6 and body[0] == 0x02:
                version = body[4:6]
                if version == b"\x03\x00":
                    return ProtocolResult("SSLv3", True, "server answered a ServerHello for 3.0")
                return ProtocolResult("SSLv3", False,
                                      f"server answered with version {version.hex()}, not 3.0")
            return ProtocolResult("SSLv3", False, f"unexpected answer (record type {ctype})")
        except _Timeout:
            return ProtocolResult("SSLv3", False, f"no answer within {timeout_s:g}s")
        except OSError as exc:
            return ProtocolResult("SSLv3", False, f"connection ended: {_reason(exc)}")
    finally:
        sock.close()


def _probe_version(ep: Endpoint, version: str, timeout_s: float) -> ProtocolResult:
    try:
        ctx = _context(ep, verify=False, version=version)
    except (ValueError, ssl.SSLError) as exc:
        return ProtocolResult(version, None, f"this client cannot offer {version}: {exc}")
    try:
        tls = _handshake(ep, ctx, timeout_s)
    except ssl.SSLError as exc:
        reason = _reason(exc)
        if "NO_PROTOCOLS_AVAILABLE" in reason.upper() or "no protocols available" in reason:
            return ProtocolResult(version, None, f"this client cannot offer {version}: {reason}")
        return ProtocolResult(version, False, f"refused: {reason}")
    except OSError as exc:
        return ProtocolResult(version, False, f"refused: connection ended ({_reason(exc)})")
    try:
        negotiated = tls.version()
        cipher = (tls.cipher() or ("?",))[0]
    finally:
        with contextlib.suppress(OSError):
            tls.close()
    return ProtocolResult(version, negotiated == version, f"negotiated {negotiated} with {cipher}")


def protocol_support(ep: Endpoint, *, timeout_s: float,
                     protocols: tuple[str, ...] = PROTOCOLS) -> ProtocolSupport:
    """One handshake per protocol version; ProbeError only if the endpoint is unreachable."""
    results = []
    for proto in protocols:
        if proto == "SSLv3":
            results.append(_probe_ssl3(ep, timeout_s))
        else:
            results.append(_probe_version(ep, proto, timeout_s))
    return ProtocolSupport(ep, tuple(results))


# ----------------------------------------------------------------------------- weak ciphers
#: Suites that are broken outright (what nmap's ssl-enum-ciphers grades below A): no
#: encryption, no authentication, export-grade keys, RC4, single and triple DES (SWEET32).
#: Each is offered alone as a group, TLS 1.0-1.2 (TLS 1.3 has no weak suites).
WEAK_CIPHER_GROUPS: tuple[tuple[str, str], ...] = (
    ("NULL (no encryption)", "eNULL"),
    ("anonymous (no authentication)", "aNULL:!eNULL"),
    ("EXPORT", "EXPORT"),
    ("RC4", "RC4"),
    ("DES", "DES:!3DES"),
    ("3DES (SWEET32)", "3DES"),
)
#: Not broken, but outside Mozilla's "intermediate" profile (no forward secrecy, CBC with
#: SHA-1/SHA-2 MACs): reported as evidence, not judged (Mozilla's "old" profile keeps them
#: for old clients, nmap grades them A).
NON_INTERMEDIATE = ("ALL:!aNULL:!eNULL:!ECDHE+AESGCM:!ECDHE+CHACHA20:!DHE+AESGCM"
                    ":!DHE+CHACHA20")
MAX_HANDSHAKES_PER_GROUP = 4


@dataclass(frozen=True)
class CipherGroupResult:
    group: str
    testable: bool  # False: the local OpenSSL cannot offer any suite of this group
    accepted: tuple[str, ...]  # suites the server negotiated when offered only this group
    detail: str


@dataclass(frozen=True)
class WeakCipherSupport:
    endpoint: Endpoint
    results: tuple[CipherGroupResult, ...]
    outside_intermediate: tuple[str, ...]
    handshakes: int

    def accepted(self) -> list[str]:
        return [c for r in self.results for c in r.accepted]

    def summary(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.address,
            "weak_accepted": {r.group: list(r.accepted) for r in self.results if r.accepted},
            "weak_refused": [r.group for r in self.results if r.testable and not r.accepted],
            "not_testable_here": {r.group: r.detail for r in self.results if not r.testable},
            "accepted_outside_mozilla_intermediate (examples, not judged)":
                list(self.outside_intermediate),
            "handshakes": self.handshakes,
            "client": ssl.OPENSSL_VERSION,
        }


def _cipher_context(spec: str) -> ssl.SSLContext | None:
    """A TLS 1.0-1.2 context offering exactly ``spec``; None if this OpenSSL has none of it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(f"{spec}:@SECLEVEL=0")
    except ssl.SSLError:
        return None
    return ctx


def _accepted_suites(ep: Endpoint, spec: str, timeout_s: float, limit: int
                     ) -> tuple[bool, list[str], int]:
    """(testable, suites the server picked, handshakes): offer ``spec``, and again without
    each suite it picked, up to ``limit`` handshakes."""
    accepted: list[str] = []
    handshakes = 0
    while handshakes < limit:
        ctx = _cipher_context(spec + "".join(f":!{c}" for c in accepted))
        if ctx is None:
            return (bool(accepted), accepted, handshakes)
        handshakes += 1
        try:
            tls = _handshake(ep, ctx, timeout_s)
        except (ssl.SSLError, OSError):
            break  # refused: nothing (more) of this group is accepted
        try:
            name = (tls.cipher() or ("?",))[0]
        finally:
            with contextlib.suppress(OSError):
                tls.close()
        if name in accepted:
            break
        accepted.append(name)
    return (True, accepted, handshakes)


def weak_cipher_support(ep: Endpoint, *, timeout_s: float) -> WeakCipherSupport:
    """Offer each weak group alone; ProbeError only if the endpoint cannot be reached.

    At most ``MAX_HANDSHAKES_PER_GROUP`` handshakes per group (usually one: refused), each
    bounded by ``timeout_s``.
    """
    # A server that completes no handshake at all also "refuses" every weak suite: that
    # proves nothing, so the endpoint must first complete one with ordinary settings.
    try:
        _handshake(ep, _context(ep, verify=False), timeout_s).close()
    except (ssl.SSLError, OSError) as exc:
        raise ProbeError(ep.name, f"no TLS handshake with {ep.address} completes even with "
                                  f"default settings ({_reason(exc)}): its refusal of weak "
                                  "suites cannot be judged") from None
    results = []
    total = 1
    for group, spec in WEAK_CIPHER_GROUPS:
        if _cipher_context(spec) is None:
            results.append(CipherGroupResult(group, False, (), f"{ssl.OPENSSL_VERSION} "
                                             f"cannot offer '{spec}' (compiled out or legacy "
                                             "provider)"))
            continue
        _, accepted, n = _accepted_suites(ep, spec, timeout_s, MAX_HANDSHAKES_PER_GROUP)
        total += n
        results.append(CipherGroupResult(group, True, tuple(accepted),
                                         "accepted" if accepted else "refused"))
    _, outside, n = _accepted_suites(ep, NON_INTERMEDIATE, timeout_s, 2)
    return WeakCipherSupport(ep, tuple(results), tuple(outside), total + n)


# ------------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class CertFileObservation:
    """A certificate file on disk (a PEM bundle: leaf first), and its key when one is named."""

    name: str
    path: str
    certs: tuple[CertInfo, ...]
    key_path: str | None = None
    key_matches: bool | None = None
    key_type: str | None = None
    observed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def leaf(self) -> CertInfo:
        return self.certs[0]

    def earliest_expiry(self) -> CertInfo:
        return min(self.certs, key=lambda c: c.not_after)

    def summary(self) -> dict[str, Any]:
        early = self.earliest_expiry()
        return {
            "path": self.path,
            "certificates": len(self.certs),
            "leaf": self.leaf.summary(self.observed_at),
            "earliest_expiry_in_file": {
                "certificate": early.subject,
                "not_after": early.not_after.isoformat(),
                "days_left": round(early.days_left(self.observed_at), 2),
            },
            "bundle": [c.summary(self.observed_at) for c in self.certs],
            "key_path": self.key_path,
            "key_type": self.key_type,
            "key_matches_leaf": self.key_matches,
        }


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def read_cert_file(name: str, path: Path, key_path: Path | None = None,
                   max_bytes: int = 1024 * 1024) -> CertFileObservation:
    """Parse a PEM (or DER) certificate file and, if given, check the key belongs to its leaf.

    The key is read only to compare public halves; nothing of it is kept or reported.
    """
    try:
        raw = path.read_bytes()[:max_bytes]
    except OSError as exc:
        raise ProbeError(name, f"cannot read certificate file {path}: "
                               f"{exc.strerror or exc}") from None
    try:
        certs = x509.load_pem_x509_certificates(raw) if b"-----BEGIN" in raw else \
            [x509.load_der_x509_certificate(raw)]
    except ValueError as exc:
        raise ProbeError(name, f"{path} holds no readable certificate: {exc}") from None
    leaf = certs[0]
    matches: bool | None = None
    key_type: str | None = None
    if key_path is not None:
        try:
            key_raw = key_path.read_bytes()[:max_bytes]
        except OSError as exc:
            raise ProbeError(name, f"cannot read key file {key_path}: "
                                   f"{exc.strerror or exc}") from None
        try:
            if b"-----BEGIN" in key_raw:
                key = serialization.load_pem_private_key(key_raw, password=None)
            else:
                key = serialization.load_der_private_key(key_raw, password=None)
        except TypeError:
            raise ProbeError(name, f"key file {key_path} is encrypted: cannot compare it "
                                   "with the certificate") from None
        except (ValueError, UnsupportedAlgorithm):
            raise ProbeError(name, f"key file {key_path} holds no readable private key"
                             ) from None
        key_type = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        matches = _spki(key.public_key()) == _spki(leaf.public_key())
        del key
    return CertFileObservation(
        name=name,
        path=str(path),
        certs=tuple(cert_info(c) for c in certs),
        key_path=str(key_path) if key_path else None,
        key_matches=matches,
        key_type=key_type,
    )
