"""Form and JSON default-login probes against a real HTTP server on loopback, the container
facts behind SEC-025..027, and the inventory rules for login kinds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from opsverify.errors import ProbeError
from opsverify.inventory import DefaultCredential
from opsverify.probes import container_security, credentials

FORM = b'<form method=post><input name=login><input type=password name=pw></form>'
DEFAULT = "guest"  # the one account the server accepts is guest/guest (admin/admin for JSON)


class _Logins(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/grafana/login":  # Grafana: JSON in, 200 + cookie or 401
            data = json.loads(raw or b"{}")
            if (data.get("user"), data.get("password")) == ("admin", "admin"):
                return self._reply(200, b'{"message":"Logged in"}',
                                   Set_Cookie="grafana_session=abc123; Path=/; HttpOnly")
            return self._reply(401, b'{"message":"Invalid username or password"}',
                               Set_Cookie="grafana_session=; Path=/; Max-Age=0")
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        ok = (form.get("login"), form.get("pw")) == (DEFAULT, DEFAULT)
        if self.path == "/form":  # success: redirect away; failure: the form again
            if ok:
                return self._reply(302, Location="/home", Set_Cookie="sid=s1; HttpOnly")
            return self._reply(200, FORM)
        if self.path == "/form-back":  # failure: redirect back to the login page
            return self._reply(302, Location="/home" if ok else "/login?error=1")
        if self.path == "/always-200":
            return self._reply(200, b"<html>welcome?</html>")
        if self.path == "/cookie-always":  # a session cookie for everyone: proves nothing
            return self._reply(200, b'{"ok":true}', Set_Cookie="sid=anon; Path=/")
        return self._reply(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def logins() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Logins)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _try(url: str, user: str, password: str, spec: credentials.LoginSpec
         ) -> credentials.FormLoginAttempt:
    return credentials.form_login(url, user, password, spec, target="t", timeout_s=5)


FORM_SPEC = credentials.login_spec("form", user_field="login", password_field="pw")


def test_grafana_login_accepted_and_refused(logins: str) -> None:
    spec = credentials.login_spec("grafana")
    ok = _try(f"{logins}/grafana/login", "admin", "admin", spec)
    assert ok.verdict == "accepted" and ok.cookies_set == ["grafana_session"]
    assert ok.control and ok.control.startswith("random password: refused")
    no = _try(f"{logins}/grafana/login", "admin", "not-the-default", spec)
    assert (no.verdict, no.reason, no.cookies_set) == ("refused", "answered 401", [])
    assert "not-the-default" not in repr(no) and "admin" not in repr(ok.fields)


def test_form_login_redirect_away_is_accepted_form_again_is_refused(logins: str) -> None:
    ok = _try(f"{logins}/form", DEFAULT, DEFAULT, FORM_SPEC)
    assert ok.verdict == "accepted" and "to /home" in ok.reason
    assert ok.fields == ["login", "pw"]
    no = _try(f"{logins}/form", DEFAULT, "wrong", FORM_SPEC)
    assert no.verdict == "refused" and "login form again" in no.reason


def test_form_login_redirect_back_to_login_page_is_refused(logins: str) -> None:
    no = _try(f"{logins}/form-back", DEFAULT, "wrong", FORM_SPEC)
    assert no.verdict == "refused" and "back to the login page" in no.reason
    # a declared cookie that the "success" does not set: refused, whatever the redirect
    strict = credentials.login_spec("form", user_field="login", password_field="pw",
                                    success_cookie="sid")
    assert _try(f"{logins}/form-back", DEFAULT, DEFAULT, strict).verdict == "refused"


def test_a_bare_200_is_never_an_acceptance(logins: str) -> None:
    with pytest.raises(ProbeError, match="declare success_cookie or success_marker") as exc:
        _try(f"{logins}/always-200", DEFAULT, "s3cret-pw", FORM_SPEC)
    assert "s3cret-pw" not in str(exc.value)


def test_a_criterion_that_a_random_password_meets_proves_nothing(logins: str) -> None:
    spec = credentials.login_spec("json", success_cookie="sid")
    with pytest.raises(ProbeError, match=r"random password .* is not refused either"):
        _try(f"{logins}/cookie-always", DEFAULT, DEFAULT, spec)


def test_cookies_set_ignores_cleared_cookies() -> None:
    header = ("grafana_session=; Path=/; Max-Age=0, sid=abc; Expires=Wed, 21 Oct 2099 07:28:00 "
              "GMT; HttpOnly, old=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert credentials.cookies_set(header) == ["sid"]
    assert credentials.cookies_set(None) == []


def test_container_facts_memory_caps_readonly() -> None:
    attrs = {"Name": "/p_netdebug_1", "State": {"Status": "created"},
             "Config": {"User": "app", "Labels": {container_security.COMPOSE_SERVICE: "netdebug"}},
             "HostConfig": {"Memory": 0, "ReadonlyRootfs": False,
                            "CapAdd": ["CAP_SYS_ADMIN", "net_admin", "CHOWN"]}}
    f = container_security.facts(attrs)
    assert (f.service, f.memory_limit, f.readonly_rootfs) == ("netdebug", 0, False)
    assert f.dangerous_caps == ["NET_ADMIN", "SYS_ADMIN"]
    attrs["HostConfig"] = {"Memory": 67108864, "ReadonlyRootfs": True, "CapAdd": None}
    f = container_security.facts(attrs)
    assert (f.memory_limit, f.readonly_rootfs, f.dangerous_caps) == (67108864, True, [])


@pytest.mark.parametrize("fields, error", [
    ({"url": "http://x/api", "kind": "json"}, "needs success_cookie or success_marker"),
    ({"postgres": "main", "kind": "form"}, "apply to url logins only"),
    ({"url": "http://x/", "user_field": "login"}, "only for kind form, json or grafana"),
])
def test_login_kind_rules(fields: dict[str, str], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        DefaultCredential(user="admin", password="admin", **fields)
    assert DefaultCredential(user="a", password="b", url="http://x/login", kind="grafana")
