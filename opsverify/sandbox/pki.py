"""The sandbox's certificate authority: root CA, intermediate CA and leaf certificates.

Made with ``cryptography`` (not trustme: its leaves mark the SAN extension critical, which
cryptography's verifier and therefore sslyze reject). ``issue_leaf`` can also make every broken
certificate the TLS checks must catch: expiring soon, expired, not yet valid, wrong host,
self-signed, weak key, SHA-1 signed, served without its intermediate.

cryptography >= 42 refuses SHA-1 in ``CertificateBuilder.sign``; a SHA-1 certificate is made by
building the TBS part with SHA-256, swapping the signature OID for sha1WithRSAEncryption (same
DER length) and signing those bytes with the RSA primitive, which still accepts SHA-1.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .base import Component, Sandbox

DEFAULT_HOSTNAMES: tuple[str, ...] = ("app.sandbox.test", "localhost", "127.0.0.1", "::1")
SERVER_NAME = "app.sandbox.test"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# DER of the AlgorithmIdentifier OIDs: sha256WithRSAEncryption and sha1WithRSAEncryption.
_OID_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_OID_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")


@dataclass(frozen=True)
class Issued:
    """Paths of an issued certificate.

    ``chain`` is what a server should present (leaf, then the intermediate unless it was left
    out); ``ca`` is the trust anchor a client should use.
    """

    cert: Path
    key: Path
    chain: Path
    ca: Path


def pki_dir(sb: Sandbox) -> Path:
    return sb.path("pki")


def ca_path(sb: Sandbox) -> Path:
    """The root CA certificate (the ``ca_file`` of every inventory item)."""
    return pki_dir(sb) / "ca.crt"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opsverify sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _new_key(key_type: Literal["rsa", "ec"], key_size: int) -> PrivateKey:
    if key_type == "ec":
        curve: ec.EllipticCurve = ec.SECP384R1() if key_size >= 384 else ec.SECP256R1()
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _write_key(path: Path, key: PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _sign_sha1(builder: x509.CertificateBuilder, issuer_key: PrivateKey) -> x509.Certificate:
    """Sign with SHA-1, which ``CertificateBuilder.sign`` refuses (see module docstring)."""
    if not isinstance(issuer_key, rsa.RSAPrivateKey):
        raise ValueError("SHA-1 signing is only implemented for RSA issuer keys")
    tbs = builder.sign(issuer_key, hashes.SHA256()).tbs_certificate_bytes
    if tbs.count(_OID_SHA256_RSA) != 1:
        raise ValueError("unexpected TBS layout: cannot swap the signature algorithm")
    tbs = tbs.replace(_OID_SHA256_RSA, _OID_SHA1_RSA)
    sig = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg = b"\x30\x0d" + _OID_SHA1_RSA + b"\x05\x00"
    bitstring = b"\x03" + _der_len(len(sig) + 1) + b"\x00" + sig
    body = tbs + alg + bitstring
    return x509.load_der_x509_certificate(b"\x30" + _der_len(len(body)) + body)


def _san(hostnames: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _ca_cert(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    days: int,
    path_length: int | None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def create_ca(sb: Sandbox) -> None:
    """Create the root and intermediate CAs (RSA-2048, so SHA-1 leaves can be signed too)."""
    d = pki_dir(sb)
    d.mkdir(parents=True, exist_ok=True)
    root_key = _new_key("rsa", 2048)
    root_name = _name("opsverify sandbox root CA")
    root = _ca_cert(root_name, root_key, root_name, root_key, days=3650, path_length=None)
    inter_key = _new_key("rsa", 2048)
    inter = _ca_cert(
        _name("opsverify sandbox intermediate CA"),
        inter_key,
        root_name,
        root_key,
        days=1825,
        path_length=0,
    )
    _write_key(d / "ca.key", root_key)
    (d / "ca.crt").write_bytes(_pem(root))
    _write_key(d / "intermediate.key", inter_key)
    (d / "intermediate.crt").write_bytes(_pem(inter))


def issue_leaf(
    sb: Sandbox,
    name: str,
    *,
    hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
    days_valid: float = 90,
    not_before_offset: float = -1,
    key_type: Literal["rsa", "ec"] = "rsa",
    key_size: int = 2048,
    hash_alg: Literal["sha256", "sha384", "sha1"] = "sha256",
    self_signed: bool = False,
    include_intermediate: bool = True,
) -> Issued:
    """Issue a server certificate under ``pki/<name>.*`` and return its paths.

    ``days_valid`` and ``not_before_offset`` are days relative to now (negative = in the past):
    ``days_valid=5`` expires in 5 days, ``days_valid=-1, not_before_offset=-30`` is expired,
    ``not_before_offset=2`` is not yet valid. ``self_signed`` signs the leaf with its own key;
    ``include_intermediate=False`` writes a chain file holding only the leaf (an incomplete chain).

    >>> issued = issue_leaf(sb, "expiring", days_valid=5)          # doctest: +SKIP
    >>> nginx.configure(sb, cert=str(issued.chain), key=str(issued.key))  # doctest: +SKIP
    """
    d = pki_dir(sb)
    key = _new_key(key_type, key_size)
    cn = hostnames[0] if hostnames else name
    subject = _name(cn)
    now = _now()
    if self_signed:
        issuer_name, issuer_key = subject, key
    else:
        inter = x509.load_pem_x509_certificate((d / "intermediate.crt").read_bytes())
        issuer_name, issuer_key = inter.subject, _load_key(d / "intermediate.key")
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=not_before_offset))
        .not_valid_after(now + dt.timedelta(days=days_valid))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hostnames), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if hash_alg == "sha1":
        cert = _sign_sha1(builder, issuer_key)
    else:
        algo = hashes.SHA384() if hash_alg == "sha384" else hashes.SHA256()
        cert = builder.sign(issuer_key, algo)
    paths = Issued(d / f"{name}.crt", d / f"{name}.key", d / f"{name}.chain.pem", d / "ca.crt")
    _write_key(paths.key, key)
    paths.cert.write_bytes(_pem(cert))
    chain = _pem(cert)
    if include_intermediate and not self_signed:
        chain += (d / "intermediate.crt").read_bytes()
    paths.chain.write_bytes(chain)
    return paths


def server_cert(sb: Sandbox) -> Issued:
    """The healthy server certificate every TLS service uses (issued by ``PkiComponent.up``)."""
    d = pki_dir(sb)
    return Issued(d / "server.crt", d / "server.key", d / "server.chain.pem", d / "ca.crt")


class PkiComponent(Component):
    """Creates the CA and the healthy server certificate; starts no process."""

    name = "pki"

    def up(self, sb: Sandbox) -> None:
        create_ca(sb)
        issue_leaf(sb, "server")
        sb.state["pki"] = {"dir": str(pki_dir(sb)), "ca": str(ca_path(sb))}
        sb.save()

    def down(self, sb: Sandbox) -> None:
        """Nothing runs; the files stay with the state directory."""
