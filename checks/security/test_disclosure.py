"""What the server tells strangers about itself: versions and stack traces."""

from __future__ import annotations

from fixtures.security import https_origins
from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.probes import exposure


@check(
    id="SEC-003",
    title="Responses disclose no server version and no X-Powered-By",
    severity="minor",
    schedules=["daily", "predeploy"],
    targets=https_origins,
    rationale="An exact product version turns a scan into a lookup in an exploit database; "
              "hiding it costs nothing.",
    remediation="nginx: `server_tokens off;` in the http block; remove X-Powered-By in the "
                "application (Express: `app.disable('x-powered-by')`) or with "
                "`proxy_hide_header X-Powered-By;`, reload nginx.",
    references=["runbook 000 DICOM viewer: Security Hardening"],
)
def test_no_version_disclosure(target, origin_get):
    obs = origin_get(target, "/")
    found = exposure.server_disclosure(obs.headers)
    attach("response headers", exposure.headers_evidence(obs))
    assert not found, f"{target.origin}/ discloses {'; '.join(found)}"


@check(
    id="SEC-004",
    title="Error pages leak no stack trace and no server version",
    severity="normal",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=https_origins,
    rationale="A stack trace shows file paths, library versions and sometimes configuration "
              "or queries; a versioned error page defeats hidden Server headers.",
    remediation="Turn debug mode off in the application (DEBUG=false, NODE_ENV=production), "
                "serve generic error pages (nginx `error_page 404 /404.html;`, "
                "`server_tokens off;`), reload.",
    references=["runbook 000 DICOM viewer: Security Monitoring"],
)
def test_error_page_leaks_nothing(target, origin_get):
    obs = origin_get(target, "<missing>")
    leaks = exposure.error_page_leaks(obs.text()[:65536])
    attach("error page", {"url": obs.url, "status": obs.status,
                          "content_type": obs.headers.get("Content-Type"),
                          "length": len(obs.body), "leaks": leaks})
    assert not leaks, (
        f"{target.origin}: the error page of a missing path (status {obs.status}) shows "
        f"{', '.join(leaks)}")
