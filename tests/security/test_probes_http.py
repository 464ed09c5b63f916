"""exposure and credentials probes against a real HTTP server on loopback."""

from __future__ import annotations

import pytest

from opsverify.errors import ProbeError
from opsverify.probes import credentials, exposure
from opsverify.probes import http as http_probe


@pytest.fixture
def session():
    with http_probe.new_session() as s:
        yield s


def test_headers_verdict_baseline_and_required():
    headers = {
        "Strict-Transport-Security": "max-age=600",
        "x-content-type-options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    }
    report = exposure.check_headers(headers, ["Permissions-Policy"], hsts_min_age_s=31536000)
    assert report.missing == ["Referrer-Policy", "Permissions-Policy"]
    assert report.frame_protection == "CSP frame-ancestors 'none'"
    assert report.weak == ["Strict-Transport-Security max-age 600 < 31536000"]


def test_frame_protection_needs_a_restrictive_value():
    assert exposure.frame_protection({"X-Frame-Options": "ALLOW-FROM x"}) is None
    assert exposure.frame_protection(
        {"Content-Security-Policy": "frame-ancestors *"}) is None
    assert exposure.frame_protection({"X-Frame-Options": "sameorigin"}) == \
        "X-Frame-Options: SAMEORIGIN"


def test_disclosure_and_error_pages():
    assert exposure.server_disclosure({"Server": "nginx"}) == []
    assert exposure.server_disclosure({"Server": "Apache/2.4.57 (Debian)",
                                       "X-Powered-By": "Express"}) == [
        "Server: Apache/2.4.57 (Debian)", "X-Powered-By: Express"]
    assert exposure.error_page_leaks("<center>nginx/1.22.1</center>") == [
        "server version 'nginx/1.22.1'"]
    java = "java.lang.NullPointerException\n\tat com.x.Foo.bar(Foo.java:42)"
    assert "Java stack frame" in exposure.error_page_leaks(java)
    assert exposure.error_page_leaks("<h1>404 Not Found</h1>") == []


def test_content_kind_never_needs_the_content():
    assert exposure.content_kind(b"A=1\nB=2\n") == "dotenv-like file (2 KEY=value lines)"
    assert exposure.content_kind(b"[core]\n\tbare = false\n") == "git config"
    assert exposure.content_kind(b"<!doctype html><html></html>") == "HTML page"


def test_fetch_path_observation_has_no_body(web, session):
    obs = exposure.fetch_path(session, web, "/.env", target="t", timeout_s=5)
    assert (obs.status, obs.kind) == (200, "dotenv-like file (2 KEY=value lines)")
    assert "hunter2" not in repr(obs)  # the observation (evidence) never carries the body
    listing = exposure.fetch_path(session, web, "/uploads/", target="t", timeout_s=5)
    assert "'Index of' page" in listing.listing
    crash = exposure.fetch_path(session, web, "/crash", target="t", timeout_s=5)
    assert "Python traceback" in crash.leaks


def test_basic_login_verdicts(web, session):
    kw = {"target": "t", "timeout_s": 5}
    assert credentials.http_basic_login(session, f"{web}/weak", "admin", "admin",
                                        **kw).verdict == "accepted"
    assert credentials.http_basic_login(session, f"{web}/strong", "admin", "admin",
                                        **kw).verdict == "refused"
    assert credentials.http_basic_login(session, f"{web}/open", "admin", "admin",
                                        **kw).verdict == "unprotected"
    post = credentials.http_basic_login(session, f"{web}/post-only", "admin", "admin", **kw)
    assert (post.method, post.verdict) == ("POST", "refused")
    with pytest.raises(ProbeError, match="answered 404"):
        credentials.http_basic_login(session, f"{web}/nowhere", "admin", "admin", **kw)


def test_unreachable_login_is_a_probe_error(session):
    with pytest.raises(ProbeError):
        credentials.http_basic_login(session, "http://127.0.0.1:9/x", "a", "b", target="t",
                                     timeout_s=2)
