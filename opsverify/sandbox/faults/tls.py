"""TLS faults: broken certificates served by nginx, weak protocols, HTTPS hygiene, files.

Each fault is a real misconfiguration of the sandbox's nginx (or PostgreSQL): a certificate
issued by :func:`pki.issue_leaf` with the defect and installed through :func:`nginx.configure`,
a protocol or header setting, or a certificate/key file replaced on disk without a restart
(exactly what a half-done renewal leaves behind: the running server is fine until its next
restart). Reverting restores nginx's defaults, which reinstalls the healthy files; every revert
can run twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsverify.sandbox import nginx, pki
from opsverify.sandbox.base import Fault, Sandbox

#: nginx on OpenSSL 3 refuses to load RSA-1024 or SHA-1 certificates at its default security
#: level: the weak-certificate faults lower it, as an operator forcing an old cert would.
WEAK = "DEFAULT:@SECLEVEL=0"


def _leaf(name: str, *, weak: bool = False, **issue: Any) -> Callable[[Sandbox], None]:
    def inject(sb: Sandbox) -> None:
        issued = pki.issue_leaf(sb, f"fault-{name}", **issue)
        changes: dict[str, Any] = {"cert": str(issued.chain), "key": str(issued.key)}
        if weak:
            changes["ciphers"] = WEAK
        nginx.configure(sb, **changes)

    return inject


def _reset_cert(sb: Sandbox) -> None:
    nginx.reset(sb, "cert", "key", "ciphers")


def _cert_fault(name: str, description: str, *, weak: bool = False, **issue: Any) -> Fault:
    return Fault(name=name, area="tls", description=description,
                 inject=_leaf(name, weak=weak, **issue), revert=_reset_cert)


def _nginx_fault(name: str, description: str, **changes: Any) -> Fault:
    def inject(sb: Sandbox) -> None:
        nginx.configure(sb, **changes)

    def revert(sb: Sandbox) -> None:
        nginx.reset(sb, *changes)

    return Fault(name=name, area="tls", description=description, inject=inject, revert=revert)


def _served_files(sb: Sandbox) -> tuple[Any, Any]:
    """The certificate and key files nginx loads (the inventory's cert_files entry)."""
    return nginx._ssl_paths(sb)


def _inject_file_expiring(sb: Sandbox) -> None:
    issued = pki.issue_leaf(sb, "fault-cert_file_expiring", days_valid=5)
    cert, key = _served_files(sb)
    cert.write_bytes(issued.chain.read_bytes())
    key.write_bytes(issued.key.read_bytes())


def _inject_key_mismatch(sb: Sandbox) -> None:
    other = pki.issue_leaf(sb, "fault-cert_key_mismatch")
    _, key = _served_files(sb)
    key.write_bytes(other.key.read_bytes())


def _reinstall_files(sb: Sandbox) -> None:
    """nginx.configure without changes reinstalls the files of the options in force."""
    nginx.configure(sb)


FAULTS: list[Fault] = [
    _cert_fault("cert_expiring_5d", "nginx serves a certificate that expires in 5 days",
                days_valid=5),
    _cert_fault("cert_expiring_20d",
                "nginx serves a certificate that expires in 20 days (warn tier only)",
                days_valid=20),
    _cert_fault("cert_expired", "nginx serves a certificate that expired yesterday",
                days_valid=-1, not_before_offset=-91),
    _cert_fault("cert_not_yet_valid", "nginx serves a certificate valid only from in 2 days",
                not_before_offset=2, days_valid=92),
    _cert_fault("cert_wrong_host", "nginx serves a certificate for other.sandbox.test only",
                hostnames=("other.sandbox.test",)),
    _cert_fault("cert_self_signed", "nginx serves a self-signed certificate", self_signed=True),
    _cert_fault("cert_missing_intermediate",
                "nginx serves the leaf without its intermediate certificate",
                include_intermediate=False),
    _cert_fault("cert_rsa_1024", "nginx serves a certificate with an RSA-1024 key (SECLEVEL=0)",
                weak=True, key_size=1024),
    _cert_fault("cert_sha1", "nginx serves a SHA-1 signed certificate (SECLEVEL=0)",
                weak=True, hash_alg="sha1"),
    _nginx_fault("tls10_enabled", "nginx accepts TLS 1.0 and 1.1 (ssl_ciphers SECLEVEL=0)",
                 protocols="TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ciphers=WEAK),
    _nginx_fault("http_no_redirect", "nginx serves the site on plain HTTP instead of "
                 "redirecting to HTTPS", redirect_http=False),
    _nginx_fault("hsts_missing", "nginx sends no Strict-Transport-Security header", hsts=False),
    Fault("cert_file_expiring", "tls",
          "nginx's certificate and key files were replaced by a pair expiring in 5 days, "
          "not yet loaded (nginx not restarted)", _inject_file_expiring, _reinstall_files),
    Fault("cert_key_mismatch", "tls",
          "nginx's key file was replaced by another key, not yet loaded (nginx not restarted)",
          _inject_key_mismatch, _reinstall_files),
]
