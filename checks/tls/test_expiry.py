"""Certificates served by TLS endpoints: expiry in two tiers (runbook: openssl -checkend)."""

from __future__ import annotations

from checks.tls.common import expiry_problem
from checks.tls.targets import tls_endpoints
from fixtures.tls import TlsCache
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes.tls import Endpoint

REFS = ["runbook 000 DICOM viewer: SSL Certificate Issues; daily maintenance "
        "(openssl x509 -checkend 2592000)", "runbook 002 monitoring: Certificate Expiry alert"]


@check(
    id="CRT-001",
    title="Served certificates are valid now and do not expire within cert_fail_days",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets=tls_endpoints,
    rationale="""An expired (or not yet valid) certificate makes every client refuse the
    connection: the runbooks' classic outage. Fewer than cert_fail_days left means the renewal
    has already failed or was forgotten. The earliest expiry anywhere in the served chain
    counts: an expired intermediate breaks clients as surely as an expired leaf.""",
    remediation="""Renew now: regenerate or reissue the certificate (ssl/generate-ssl.sh DOMAIN
    production, or the ACME client), install the full chain, restart the frontend (docker
    compose restart nginx), then verify with `openssl s_client -connect HOST:PORT
    -servername NAME | openssl x509 -noout -dates`.""",
    references=REFS,
)
def test_certificate_not_expiring_soon(target: Endpoint, inventory: Inventory,
                                       tls_cache: TlsCache) -> None:
    obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    attach("tls", obs.summary())
    limit = inventory.threshold("cert_fail_days")
    attach_threshold(cert_fail_days=limit)
    problem = expiry_problem(target.name, obs.chain, limit, "cert_fail_days", obs.observed_at,
                             "served chain", not_yet_valid=True)
    assert problem is None, problem


@check(
    id="CRT-002",
    title="Served certificates do not expire within cert_warn_days",
    severity="minor",
    schedules=["daily", "weekly"],
    targets=tls_endpoints,
    rationale="""The runbooks warn 30 days ahead (cert_warn_days) so a renewal is planned,
    not rushed: this is the early warning, CRT-001 the emergency.""",
    remediation="""Schedule the renewal: reissue the certificate before cert_fail_days is
    reached, install the full chain and restart the frontend; check why automatic renewal
    (if any) has not run.""",
    references=REFS,
)
def test_certificate_renewal_due(target: Endpoint, inventory: Inventory,
                                 tls_cache: TlsCache) -> None:
    obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    attach("tls", obs.summary())
    limit = inventory.threshold("cert_warn_days")
    attach_threshold(cert_warn_days=limit)
    problem = expiry_problem(target.name, obs.chain, limit, "cert_warn_days", obs.observed_at,
                             "served chain", not_yet_valid=False)
    assert problem is None, problem
