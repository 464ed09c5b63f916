"""Protocol versions offered by TLS endpoints (runbook: nmap --script ssl-enum-ciphers)."""

from __future__ import annotations

from checks.tls.targets import tls_endpoints
from fixtures.tls import TlsCache
from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach
from opsverify.inventory import Inventory
from opsverify.probes.tls import LEGACY_PROTOCOLS, Endpoint

MODERN = ("TLSv1.2", "TLSv1.3")


@check(
    id="CRT-007",
    title="Endpoints refuse SSL 3, TLS 1.0 and TLS 1.1 and offer TLS 1.2 or 1.3",
    severity="normal",
    schedules=["weekly", "predeploy", "postdeploy"],
    targets=tls_endpoints,
    rationale="""SSL 3, TLS 1.0 and TLS 1.1 are deprecated (RFC 8996) and vulnerable
    (POODLE, BEAST, weak MACs); PCI DSS and every browser dropped them. Offering them only
    serves downgrade attacks. Without TLS 1.2 or 1.3 current clients cannot connect at all.""",
    remediation="""Set `ssl_protocols TLSv1.2 TLSv1.3;` in the nginx server block (and remove
    any `@SECLEVEL=0` from ssl_ciphers), `ssl_min_protocol_version = 'TLSv1.2'` in
    PostgreSQL; reload, then re-run `nmap --script ssl-enum-ciphers -p PORT HOST`.""",
    references=["runbook 000 DICOM viewer: Verify SSL configuration (nmap ssl-enum-ciphers)"],
)
def test_only_modern_protocols(target: Endpoint, inventory: Inventory,
                               tls_cache: TlsCache) -> None:
    support = tls_cache.protocols(target, inventory.threshold("timeout_s"))
    attach("protocols", support.summary())
    # The verdict stands on its own handshakes; the chain is extra evidence when available.
    handshake_error: ProbeError | None = None
    try:
        attach("tls", tls_cache.observe(target, inventory.threshold("timeout_s")).summary())
    except ProbeError as exc:
        handshake_error = exc
    if not support.accepted() and handshake_error is not None:
        # No version accepted and no handshake at all: the port does not speak TLS (garbage,
        # hang-up). That is an unobservable target (broken), not a protocol finding whose
        # remediation would send the on-call engineer to edit ssl_protocols.
        raise handshake_error
    untested = [r.protocol for r in support.results
                if r.accepted is None and r.protocol in LEGACY_PROTOCOLS]
    if untested:
        raise ProbeError(target.name, f"this client cannot offer {', '.join(untested)}, so "
                                      "their refusal cannot be verified")
    legacy = [p for p in support.accepted() if p in LEGACY_PROTOCOLS]
    modern = [p for p in support.accepted() if p in MODERN]
    assert not legacy, (
        f"{target.name}: {target.address} accepts legacy protocol(s) {', '.join(legacy)} "
        f"(accepted: {', '.join(support.accepted())}); only TLS 1.2 and 1.3 may be offered")
    assert modern, (
        f"{target.name}: {target.address} offers neither TLS 1.2 nor TLS 1.3 "
        f"(accepted: {', '.join(support.accepted()) or 'nothing'})")
