"""Cipher suites offered by TLS endpoints: nothing broken (runbook: nmap ssl-enum-ciphers).

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.

What fails: a server that negotiates a suite without encryption (NULL), without
authentication (anonymous DH/ECDH), with export-grade keys, RC4, DES or 3DES when a client
offers only those - the suites nmap grades below A. What is only reported: CBC and static-RSA
suites outside Mozilla's "intermediate" profile; they lack forward secrecy but are not broken,
Mozilla's "old" profile keeps them for old clients, and nmap grades them A.

The local OpenSSL decides what can be offered: OpenSSL 3 builds usually cannot offer EXPORT,
RC4, DES or 3DES at all; those groups are listed as "not testable here" in the evidence rather
than counted as refused.
"""

from __future__ import annotations

import ssl

from checks.tls.targets import tls_endpoints
from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach
from opsverify.inventory import Inventory
from opsverify.probes import tls as tls_probe


@check(
    id="CRT-014",
    title="Endpoints refuse broken cipher suites (NULL, anonymous, EXPORT, RC4, DES, 3DES)",
    severity="critical",
    schedules=["weekly", "predeploy", "postdeploy"],
    targets=tls_endpoints,
    rationale="""A server that accepts a NULL suite sends data in clear text to anyone who
        asks for it, an anonymous suite lets any man in the middle impersonate it, and
        EXPORT, RC4, DES and 3DES keys are breakable (FREAK/Logjam, RC4 biases, SWEET32).
        They only appear through an ssl_ciphers line with `@SECLEVEL=0` or an explicit
        `eNULL`/`aNULL`, typically copied from an old tutorial to support one old client.""",
    remediation="""Remove the weak entries and `@SECLEVEL=0` from ssl_ciphers; use Mozilla's
        intermediate list (ECDHE/DHE with AES-GCM or ChaCha20) or nginx's default
        (`HIGH:!aNULL:!MD5`); PostgreSQL: ssl_ciphers = 'HIGH:!aNULL:!eNULL'. Reload and
        re-run `nmap --script ssl-enum-ciphers -p PORT HOST`.""",
    references=["runbook 000 DICOM viewer: Verify SSL configuration (nmap ssl-enum-ciphers)",
                "Mozilla Server Side TLS, intermediate configuration"],
)
def test_no_broken_cipher_suites(target: tls_probe.Endpoint, inventory: Inventory) -> None:
    support = tls_probe.weak_cipher_support(target, timeout_s=inventory.threshold("timeout_s"))
    attach("ciphers", support.summary())
    if not any(r.testable for r in support.results):
        raise ProbeError(target.name, f"{ssl.OPENSSL_VERSION} can offer none of the weak "
                                      "cipher groups: their refusal cannot be verified here")
    accepted = {r.group: r.accepted for r in support.results if r.accepted}
    assert not accepted, (
        f"{target.name}: {target.address} accepts broken cipher suites: "
        + "; ".join(f"{g}: {', '.join(s)}" for g, s in accepted.items())
        + " (negotiated when a client offers only these)")
