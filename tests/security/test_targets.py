"""Target derivation of the security checks from an inventory (no network)."""

from __future__ import annotations

from fixtures import security as sec
from opsverify.inventory import Inventory

INV = {
    "environment": "t",
    "http": [
        {"name": "a", "url": "https://app.test:8443/api/health", "ca_file": "/ca.pem",
         "resolve": "127.0.0.1"},
        {"name": "b", "url": "https://app.test:8443/"},
        {"name": "c", "url": "http://127.0.0.1:9000/metrics"},
        {"name": "d", "url": "https://other.test/"},
    ],
    "hosts": [{"name": "h", "env_files": ["/opt/app/.env"], "log_dirs": ["/var/log/app"]}],
    "security": {
        "forbidden_paths": ["/.env"],
        "listing_paths": ["/uploads/"],
        "default_credentials": [
            {"url": "https://app.test:8443/admin/", "user": "admin", "password": "admin"},
            {"url": "http://127.0.0.1:9000/login", "user": "guest", "password": "guest"},
        ],
    },
}


def test_origins_are_distinct_https_with_first_items_trust():
    inv = Inventory.model_validate(INV)
    origins = dict(sec.https_origins(inv))
    assert list(origins) == ["https://app.test:8443", "https://other.test"]
    assert (origins["https://app.test:8443"].ca_file, origins["https://app.test:8443"].resolve) \
        == ("/ca.pem", "127.0.0.1")
    assert [n for n, _ in sec.forbidden_targets(inv)] == [
        "https://app.test:8443/.env", "https://other.test/.env"]


def test_logins_borrow_trust_of_their_origin():
    logins = dict(sec.http_logins(Inventory.model_validate(INV)))
    admin = logins["admin@https://app.test:8443/admin/"]
    assert admin.origin is not None and admin.origin.resolve == "127.0.0.1"
    assert "password" not in repr(admin)  # the password field is left out of the repr
    assert logins["guest@http://127.0.0.1:9000/login"].origin is not None


def test_host_targets_and_absent_section():
    inv = Inventory.model_validate(INV)
    assert [n for n, _ in sec.env_files(inv)] == ["h:/opt/app/.env"]
    assert [n for n, _ in sec.log_dirs(inv)] == ["h:/var/log/app"]
    bare = Inventory.model_validate({k: v for k, v in INV.items() if k != "security"})
    assert sec.https_origins(bare) == [] and sec.http_logins(bare) == []
    assert sec.https_origins.__doc__.splitlines()[0].startswith("security")
