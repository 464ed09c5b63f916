"""Files and indexes a web server must never hand out."""

from __future__ import annotations

import hashlib

from fixtures.security import forbidden_targets, listing_targets
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes import exposure

REFUSALS = (401, 403, 404, 410)


@check(
    id="SEC-005",
    title="Forbidden paths (/.env, /.git, dumps, status pages) are refused and never served",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy", "smoke"],
    targets=forbidden_targets,
    rationale="A served /.env or /.git/config hands out database passwords, signing keys and "
              "the source history: the most common way web apps lose their secrets.",
    remediation="Deny dotfiles and dumps in nginx (`location ~ /\\.(?!well-known/) { deny all; "
                "}`), keep .env, backups and .git outside the web root, reload nginx; then "
                "rotate every secret the file held (runbook: Rotate secrets).",
    references=["runbook 001: Rotate SECRET_KEY", "runbook 003: Rotate Secrets"],
)
def test_forbidden_path_not_served(target, inventory, http_session, origin_get):
    o = target.origin
    obs = exposure.fetch_path(http_session, o.origin, target.path, target=target.name,
                                 timeout_s=inventory.threshold("timeout_s"),
                                 ca_file=o.ca_file, resolve=o.resolve)
    attach("response (body never kept)", obs)
    if obs.status in REFUSALS or 300 <= obs.status < 400:
        return
    if 200 <= obs.status < 300:
        # A single-page app answers every path with its index: that is not the file.
        fallback = origin_get(o, "<missing>")
        same_as_missing = (200 <= fallback.status < 300
                           and hashlib.sha256(fallback.body).hexdigest() == obs.sha256)
        attach("fallback page", {"status": fallback.status, "same_kind": same_as_missing})
        assert same_as_missing, (
            f"{target.name} is served: status {obs.status}, {obs.length} bytes, looks like "
            f"{obs.kind} (must answer 403 or 404)")
        return
    raise AssertionError(f"{target.name} answered {obs.status} (must answer 403 or 404)")


@check(
    id="SEC-006",
    title="Upload and static paths show no directory listing",
    severity="normal",
    schedules=["daily", "predeploy"],
    targets=listing_targets,
    rationale="A directory index of the upload folder lists every stored study (patient data) "
              "to anyone who finds the URL.",
    remediation="`autoindex off;` for the location in nginx (the default), reload nginx; check "
                "the access log for GETs of the index while it was on.",
    references=["runbook 000 DICOM viewer: Security Hardening"],
)
def test_no_directory_listing(target, inventory, http_session):
    o = target.origin
    obs = exposure.fetch_path(http_session, o.origin, target.path, target=target.name,
                                 timeout_s=inventory.threshold("timeout_s"),
                                 ca_file=o.ca_file, resolve=o.resolve)
    attach("response (body never kept)", obs)
    assert not (200 <= obs.status < 300 and obs.listing), (
        f"{target.name} shows a directory listing (status {obs.status}: "
        f"{', '.join(obs.listing)})")
