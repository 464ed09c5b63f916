"""Certificate files on disk: expiry tiers and the key that goes with them."""

from __future__ import annotations

from checks.tls.common import expiry_problem
from checks.tls.targets import cert_files_with_key
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import CertFile, Inventory
from opsverify.probes import tls as tls_probe

REFS = ["runbook 000 DICOM viewer: daily maintenance (openssl x509 -in ssl/... -checkend)",
        "runbook 004 Medical Device Regulatory Assistant: SSL Certificate Renewal"]


def _observe(target: CertFile, inventory: Inventory,
             with_key: bool = False) -> tls_probe.CertFileObservation:
    key = inventory.resolve_path(target.key) if with_key and target.key else None
    obs = tls_probe.read_cert_file(target.label, inventory.resolve_path(target.path), key)
    attach("certificate file", obs.summary())
    return obs


@check(
    id="CRT-010",
    title="Certificate files on disk are valid and do not expire within cert_fail_days",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets="cert_files",
    rationale="""The file is what the server loads at its next restart or reload: a file
    that is expired, not yet valid or about to expire is an outage waiting for the next
    deploy, even while the running process still serves an older certificate.""",
    remediation="""Replace the file with a renewed certificate (full chain) and its key
    (back up the old pair first, as runbook 004 shows), restart the service, and verify with
    `openssl x509 -in FILE -noout -enddate`.""",
    references=REFS,
)
def test_cert_file_not_expiring_soon(target: CertFile, inventory: Inventory) -> None:
    obs = _observe(target, inventory)
    limit = inventory.threshold("cert_fail_days")
    attach_threshold(cert_fail_days=limit)
    problem = expiry_problem(f"{target.label} ({obs.path})", obs.certs, limit,
                             "cert_fail_days", obs.observed_at, "file", not_yet_valid=True)
    assert problem is None, problem


@check(
    id="CRT-011",
    title="Certificate files on disk do not expire within cert_warn_days",
    severity="minor",
    schedules=["daily", "weekly"],
    targets="cert_files",
    rationale="""The runbooks' daily check (`openssl x509 -checkend 2592000`): warn 30 days
    ahead so the renewal is planned.""",
    remediation="""Schedule the renewal of this file before cert_fail_days is reached and
    check why automatic renewal (if any) has not replaced it.""",
    references=REFS,
)
def test_cert_file_renewal_due(target: CertFile, inventory: Inventory) -> None:
    obs = _observe(target, inventory)
    limit = inventory.threshold("cert_warn_days")
    attach_threshold(cert_warn_days=limit)
    problem = expiry_problem(f"{target.label} ({obs.path})", obs.certs, limit,
                             "cert_warn_days", obs.observed_at, "file", not_yet_valid=False)
    assert problem is None, problem


@check(
    id="CRT-012",
    title="Certificate files match their private key",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=cert_files_with_key,
    rationale="""A certificate installed with the wrong key (a renewal that replaced only one
    of the pair) makes the server refuse to start or reload: nginx exits with "key values
    mismatch" at the next restart, taking the site down.""",
    remediation="""Install the key the certificate was issued for (or reissue the certificate
    for the installed key); compare `openssl x509 -in CERT -noout -pubkey` with
    `openssl pkey -in KEY -pubout` before restarting the service.""",
    references=REFS,
)
def test_cert_file_matches_key(target: CertFile, inventory: Inventory) -> None:
    obs = _observe(target, inventory, with_key=True)
    assert obs.key_matches, (
        f"{target.label}: the private key {obs.key_path} does not belong to the certificate "
        f"{obs.leaf.label()} in {obs.path} (key mismatch): the service will fail to load them "
        "at its next restart")
