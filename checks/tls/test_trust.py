"""Served chains: trusted issuer, complete chain, and a certificate for the right name."""

from __future__ import annotations

from checks.tls.targets import tls_endpoints
from fixtures.tls import TlsCache
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import Inventory
from opsverify.probes.tls import Endpoint, TlsObservation, hostname_matches

REFS = ["runbook 000 DICOM viewer: SSL Certificate Issues (openssl s_client, curl -vI: "
        "certificate chain)"]


def _diagnosis(obs: TlsObservation) -> str:
    """Why a chain does not verify, in the words an on-call engineer acts on."""
    leaf = obs.leaf
    served = {c.subject for c in obs.chain}
    if leaf.self_signed:
        return (f"the server presents a self-signed certificate {leaf.label()}: no client "
                "trusts it")
    if leaf.issuer not in served:
        return (f"the server sends {len(obs.chain)} certificate(s) and the leaf's issuer "
                f"'{leaf.issuer}' is not among them: the intermediate certificate is missing "
                "from the served chain (or the issuer is a CA the trust anchor does not know)")
    last = obs.chain[-1]
    return (f"the served chain ends at '{last.issuer if not last.self_signed else last.subject}'"
            f", which {obs.trust_anchor} does not trust (unknown or private CA)")


@check(
    id="CRT-003",
    title="Served certificate chains are complete and verify to the trusted CA",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=tls_endpoints,
    rationale="""Clients verify the chain from the leaf to a CA they trust. A self-signed or
    unknown-issuer certificate, or a server that does not send its intermediate, produces
    "SSL handshake failures" and browser security errors, often only for some clients (those
    without a cached intermediate), which makes it hard to diagnose.""",
    remediation="""Serve the full chain (leaf then intermediates: nginx ssl_certificate must
    point at the fullchain file), with a certificate issued by the trusted CA (the item's
    ca_file, or a public CA); never deploy a self-signed certificate in place of the real one.
    Verify with `openssl s_client -connect HOST:PORT -servername NAME -showcerts`.""",
    references=REFS,
)
def test_chain_is_trusted(target: Endpoint, inventory: Inventory, tls_cache: TlsCache) -> None:
    obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    attach("tls", obs.summary())
    assert obs.trusted, (
        f"{target.name}: the served chain does not verify to {obs.trust_anchor} "
        f"({obs.verify_error}): {_diagnosis(obs)}")


@check(
    id="CRT-004",
    title="Served certificates cover the server name clients use",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=tls_endpoints,
    rationale="""A certificate for another host (a wrong or stale certificate installed, a
    virtual host answering with its default certificate) fails every client's hostname check.
    Modern clients match only the subjectAltName entries, never the common name.""",
    remediation="""Install the certificate issued for this name (its SAN must list the server
    name or a matching wildcard); check the server block answering this SNI (nginx
    server_name / default_server) and reissue with the right SANs if needed.""",
    references=REFS,
)
def test_certificate_matches_hostname(target: Endpoint, inventory: Inventory,
                                      tls_cache: TlsCache) -> None:
    obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    attach("tls", obs.summary())
    leaf = obs.leaf
    sans = [*leaf.sans_dns, *leaf.sans_ip]
    assert hostname_matches(leaf.sans_dns, leaf.sans_ip, target.sni), (
        f"{target.name}: certificate {leaf.label()} does not cover the server name "
        f"'{target.sni}': its subjectAltNames are "
        f"{', '.join(sans) if sans else 'none (a CN alone is ignored by clients)'}")
