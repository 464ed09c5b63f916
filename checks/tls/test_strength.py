"""Served chains: key sizes and signature algorithms strong enough for today's clients."""

from __future__ import annotations

from checks.tls.targets import tls_endpoints
from fixtures.tls import TlsCache
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import Inventory
from opsverify.probes.tls import CertInfo, Endpoint

#: Minimum key sizes (NIST SP 800-57, CA/Browser Forum baseline requirements).
MIN_BITS = {"RSA": 2048, "EC": 256, "Ed25519": 256, "Ed448": 448}
WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2", "md4": "MD4"}


def _weak_key(c: CertInfo) -> str | None:
    family = c.key_type.split()[0]
    minimum = MIN_BITS.get(family)
    if minimum is None:
        return f"{c.key_type}-{c.key_size} (a key type clients no longer accept)"
    if c.key_size < minimum:
        return f"{family}-{c.key_size}, below the {family} minimum of {minimum} bits"
    return None


def _role(i: int, c: CertInfo) -> str:
    return "leaf" if i == 0 else ("root" if c.self_signed else "intermediate")


@check(
    id="CRT-005",
    title="Served certificates use keys of at least RSA 2048 or EC 256 bits",
    severity="critical",
    schedules=["weekly", "predeploy", "postdeploy"],
    targets=tls_endpoints,
    rationale="""Short keys (RSA-1024) can be factored with modest resources and are refused
    by current clients and OpenSSL 3's default security level: the site breaks for users with
    up-to-date software and is forgeable for the others.""",
    remediation="""Generate a new key of at least RSA 2048 bits (or EC P-256) and reissue the
    certificate with it (openssl req -newkey rsa:2048 ... / ssl/generate-ssl.sh), install it
    and restart the frontend.""",
    references=["runbook 000 DICOM viewer: Verify SSL configuration (nmap ssl-enum-ciphers)"],
)
def test_keys_are_strong(target: Endpoint, inventory: Inventory, tls_cache: TlsCache) -> None:
    obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    attach("tls", obs.summary())
    weak = [f"{_role(i, c)} {c.label()}: {why}" for i, c in enumerate(obs.chain)
            if (why := _weak_key(c))]
    assert not weak, f"{target.name}: weak key in the served chain: " + "; ".join(weak)


@check(
    id="CRT-006",
    title="Served certificates below the root are not signed with SHA-1 or MD5",
    severity="critical",
    schedules=["weekly", "predeploy", "postdeploy"],
    targets=tls_endpoints,
    rationale="""SHA-1 and MD5 signatures can be forged (chosen-prefix collisions); browsers
    and OpenSSL 3 reject them. A root's own self-signature is not relied on and is exempt.""",
    remediation="""Reissue the certificate (and any intermediate) with a SHA-256 or stronger
    signature from the CA, install the new chain and restart the frontend.""",
    references=["runbook 000 DICOM viewer: Verify SSL configuration (nmap ssl-enum-ciphers)"],
)
def test_signatures_are_strong(target: Endpoint, inventory: Inventory,
                               tls_cache: TlsCache) -> None:
    obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    attach("tls", obs.summary())
    weak = [f"{_role(i, c)} {c.label()} is signed with {c.signature_algorithm} "
            f"({WEAK_HASHES[c.signature_hash or '']})"
            for i, c in enumerate(obs.chain)
            if not c.self_signed and (c.signature_hash or "") in WEAK_HASHES]
    assert not weak, f"{target.name}: weak signature in the served chain: " + "; ".join(weak)
