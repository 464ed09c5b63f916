"""Secrets-at-rest, log-signal, container and vulnerability-report probes on real files
(through testinfra's local backend, as the checks read them) and real inspect documents."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import testinfra

from opsverify.errors import ProbeError
from opsverify.probes import container_security, log_signals, pg_hardening, secrets_at_rest, vulns

SECRET = "s3cr3t-value-that-must-never-show-up-0123456789"


@pytest.fixture(scope="module")
def local():
    return testinfra.get_host("local://")


def test_env_rules_name_variables_only():
    text = (f"export SECRET_KEY='changeme'\nJWT_SECRET={SECRET}\nAPI_KEY=short\n"
            "ADMIN_USER=admin\nDB_PASSWORD=password\nRSA_PUBLIC_KEY=x\nENABLE_DEMO_DATA=True\n")
    findings = secrets_at_rest.weak_values(text, min_length=32)
    assert [(f.variable, f.rule) for f in findings] == [
        ("SECRET_KEY", "well-known default value"),
        ("API_KEY", "shorter than 32 characters"),
        ("DB_PASSWORD", "well-known default value"),
    ]
    assert [f.variable for f in secrets_at_rest.demo_flags(text)] == ["ENABLE_DEMO_DATA"]
    assert SECRET not in repr(findings)


def test_read_env_file_mode_and_missing(local, tmp_path):
    path = tmp_path / "app.env"
    path.write_text(f"JWT_SECRET={SECRET}\n")
    os.chmod(path, 0o640)
    env = secrets_at_rest.read_env_file(local, "local", str(path), target="t")
    assert (env.exists, env.mode_octal, env.group_or_world_access) == (True, "0640", True)
    assert SECRET not in json.dumps(env.evidence()) and SECRET not in repr(env)
    assert env.evidence()["variables"] == ["JWT_SECRET"]
    missing = secrets_at_rest.read_env_file(local, "local", str(tmp_path / "nope"), target="t")
    assert not missing.exists
    with pytest.raises(ProbeError, match="not a file"):
        secrets_at_rest.read_env_file(local, "local", str(tmp_path), target="t")


def test_failed_logins_window_and_sources(local, tmp_path):
    now = dt.datetime.now(dt.UTC)
    old = (now - dt.timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    new = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "app.log").write_text(
        f"{old} WARNING failed login for user=a from ip=10.0.0.1\n"
        + f"{new} WARNING failed login for user=b from ip=10.0.0.2\n" * 3
        + f"{new} INFO request path=/api/studies status=200\n")
    lines, files, truncated = log_signals.grep_host_logs(
        local, "local", str(tmp_path), log_signals.FAILED_LOGIN_RE, target="t")
    assert len(lines) == 4 and not truncated and files == [str(tmp_path / "app.log")]
    obs = log_signals.count_failed_logins(lines, now=now)
    assert (obs.count, obs.top_sources) == (3, [("10.0.0.2", 3)])
    with pytest.raises(ProbeError, match="cannot list log dir"):
        log_signals.grep_host_logs(local, "local", str(tmp_path / "nope"), "x", target="t")


def test_injection_kinds_in_nginx_lines():
    now = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC)
    lines = [
        '10.9.8.7 - - [02/Jan/2026:11:00:00 +0000] "GET /a?id=1+UNION+SELECT+1 HTTP/1.1" 200',
        '10.9.8.7 - - [02/Jan/2026:11:00:01 +0000] "GET /q=%3Cscript%3E HTTP/1.1" 404',
        '10.9.8.6 - - [01/Jan/2026:01:00:00 +0000] "GET /../../etc/passwd HTTP/1.1" 400',
        '10.9.8.5 - - [02/Jan/2026:11:30:00 +0000] "GET /api/studies HTTP/1.1" 200',
    ]
    obs = log_signals.count_injections(lines, now=now)
    assert obs.count == 2  # the traversal is older than 24 h
    assert obs.top_sources == [("10.9.8.7", 2)]
    assert set(obs.kinds) == {"SQL injection (union select)", "script injection (<script)"}


def test_container_facts_from_inspect():
    attrs = {"Name": "/p_worker_1", "Config": {"User": "", "Labels": {
        "com.docker.compose.service": "worker"}}, "State": {"Status": "created"},
        "HostConfig": {"Privileged": True, "CapAdd": ["SYS_ADMIN"]},
        "Mounts": [{"Source": "/run/docker.sock", "Destination": "/var/run/docker.sock"}]}
    f = container_security.facts(attrs)
    assert (f.service, f.runs_as_root, f.privileged, f.cap_add) == (
        "worker", True, True, ["SYS_ADMIN"])
    assert f.socket_mounts == ["/run/docker.sock -> /var/run/docker.sock"]
    assert not container_security.is_root("1000:1000")
    assert container_security.is_root("0:0")


def test_vulnerability_reports(tmp_path):
    npm = {"vulnerabilities": {"lodash": {"severity": "moderate"},
                               "minimist": {"severity": "critical"}}}
    s = vulns.summarize(npm, "npm-audit")
    assert s.counts == {"medium": 1, "critical": 1}
    assert s.at_or_above("high") == 1 and s.at_or_above("medium") == 2
    path = tmp_path / "trivy.json"
    path.write_text(json.dumps({"Results": [{"Vulnerabilities": None}]}))
    assert vulns.read_report(path, "trivy", target="t").counts == {}
    with pytest.raises(ProbeError, match="does not exist"):
        vulns.read_report(tmp_path / "none.json", "trivy", target="t")


def test_hba_locality():
    def rule(type_: str, addr: str | None, mask: str | None = None):
        return pg_hardening.HbaRule(1, type_, ["all"], ["all"], addr, mask, "trust")

    assert pg_hardening.is_local_rule(rule("local", None))
    assert pg_hardening.is_local_rule(rule("host", "127.0.0.1", "255.255.255.255"))
    assert pg_hardening.is_local_rule(rule("host", "::1", "ffff:" * 7 + "ffff"))
    assert not pg_hardening.is_local_rule(rule("host", "192.168.0.0", "255.255.0.0"))
    assert not pg_hardening.is_local_rule(rule("host", "all"))
    assert not pg_hardening.is_local_rule(rule("hostssl", "samenet"))
