"""HTTPS hygiene: plain HTTP sends visitors to HTTPS, and HTTPS keeps them there (HSTS)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import requests

from checks.tls.targets import https_origins, redirect_sites
from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import HttpEndpoint, Inventory, TlsEndpoint
from opsverify.probes import http as http_probe

_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", re.I)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@check(
    id="CRT-008",
    title="Plain HTTP redirects to HTTPS",
    severity="normal",
    schedules=["daily", "postdeploy"],
    targets=redirect_sites,
    rationale="""A site that answers on plain HTTP lets users (and their cookies and
    credentials) talk to it unencrypted, and lets an attacker on the path strip HTTPS. The
    plain port must only redirect to HTTPS.""",
    remediation="""In the plain-HTTP server block return a permanent redirect
    (`return 301 https://$host$request_uri;`) instead of serving the site; reload nginx and
    verify with `curl -sI http://HOST/` (301 with an https:// Location).""",
    references=["runbook 000 DICOM viewer: SSL Certificate Issues (curl -vI https://...)"],
)
def test_plain_http_redirects(target: TlsEndpoint, inventory: Inventory,
                              http_session: requests.Session) -> None:
    url = f"http://{target.sni}:{target.http_port}/"
    resolve = target.host if target.host != target.sni and _is_ip(target.host) else None
    obs = http_probe.fetch(http_session, url, target=target.name, resolve=resolve,
                           timeout_s=inventory.threshold("timeout_s"), max_body=4096)
    attach("response", obs.summary())
    location = obs.redirect_to or ""
    assert obs.status in (301, 302, 303, 307, 308), (
        f"{target.name}: {url} answered {obs.status} {obs.reason} instead of redirecting to "
        "HTTPS: the site is served over plain HTTP")
    assert urlsplit(location).scheme == "https", (
        f"{target.name}: {url} redirects ({obs.status}) to '{location}', not to an https:// "
        "URL")


@check(
    id="CRT-009",
    title="HTTPS responses carry Strict-Transport-Security with max-age of at least a year",
    severity="normal",
    schedules=["daily", "postdeploy"],
    targets=https_origins,
    rationale="""Without HSTS a browser's first request, and every typed http:// URL, can be
    intercepted and downgraded (SSL stripping). A max-age below a year (hsts_min_age_s) is
    not accepted for preloading and lapses between visits.""",
    remediation="""Add `add_header Strict-Transport-Security "max-age=31536000;
    includeSubDomains" always;` to the HTTPS server block (the `always` keeps it on error
    responses), reload nginx and check with `curl -sI https://HOST/`.""",
    references=["runbook 003 SpherosegV4: Security Checklist (verify SSL certificate)",
                "https://cheatsheetseries.owasp.org/cheatsheets/HTTP_Strict_Transport_Security_Cheat_Sheet.html"],
)
def test_hsts(target: HttpEndpoint, inventory: Inventory,
              http_session: requests.Session) -> None:
    minimum = inventory.threshold("hsts_min_age_s")
    attach_threshold(hsts_min_age_s=minimum)
    ca = str(inventory.resolve_path(target.ca_file)) if target.ca_file else None
    obs = http_probe.fetch(http_session, target.url, target=target.origin, ca_file=ca,
                           resolve=target.resolve, method="GET", max_body=4096,
                           timeout_s=inventory.threshold("timeout_s", target))
    attach("response", obs.summary())
    header = next((v for k, v in obs.headers.items()
                   if k.lower() == "strict-transport-security"), None)
    assert header is not None, (
        f"{target.origin}: {target.url} answered {obs.status} without a "
        "Strict-Transport-Security header (HSTS missing)")
    m = _MAX_AGE.search(header)
    age = int(m.group(1)) if m else None
    assert age is not None and age >= minimum, (
        f"{target.origin}: Strict-Transport-Security '{header}' has max-age "
        f"{age if age is not None else 'missing'}, below hsts_min_age_s = {minimum:g} s")
