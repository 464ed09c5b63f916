"""nginx in front of the backend: TLS from the sandbox CA and the headers of a hardened site.

It runs from a private prefix under the state directory (pid, logs, temp paths), never touching
/etc/nginx. The configuration is rendered from a dict of options: the healthy defaults below,
overridden by whatever faults set. ``nginx -s reload`` is asynchronous (old workers keep serving
for a moment) and cannot switch files, so :func:`configure` tests the new file and restarts the
master (about 0.1 s): when it returns, every new connection sees the new configuration.

Knobs for fault modules: :func:`configure`, :func:`reset`, :func:`options`, :func:`https_url`,
:func:`render`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil

from . import backend, pki
from .base import Component, Sandbox, SandboxError, require_binary, run, wait_gone, wait_port

NGINX = "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")

HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; object-src 'none'",
}

#: The healthy configuration. Faults override keys through :func:`configure`.
DEFAULTS: dict[str, Any] = {
    "protocols": "TLSv1.2 TLSv1.3",  # "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" with ciphers SECLEVEL=0
    "ciphers": None,  # None: nginx/OpenSSL defaults; "DEFAULT:@SECLEVEL=0" for weak faults
    "cert": None,  # None: pki server chain; else a path (chain file: leaf + intermediates)
    "key": None,
    "hsts": True,
    "headers": True,  # False drops every security header
    "server_tokens": False,
    "deny_dotfiles": True,  # False serves /.env and /.git/config from the web root
    "autoindex": False,  # True lists /uploads/
    "redirect_http": True,  # False serves the site over plain HTTP instead of redirecting
    "upload_max_body": "10g",
    "extra_headers": {},  # name -> value, added to every response
    "drop_headers": [],  # names of security headers left out (one header removed)
    "upload_buffering": False,  # True: proxy_request_buffering on for /api/upload (a fault)
}


def _prefix(sb: Sandbox) -> Path:
    return sb.path("nginx")


ADMIN_USER = "admin"
ADMIN_PASSWORD_VAR = "SANDBOX_ADMIN_PASSWORD"


def write_htpasswd(sb: Sandbox, user: str, password: str) -> None:
    """(Re)write the ``/admin/`` basic-auth file: one ``{SSHA}`` entry. nginx reads it on every
    request, so a change applies at once without a restart."""
    salt = os.urandom(8)
    digest = base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()
    path = _prefix(sb) / "htpasswd"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{user}:{{SSHA}}{digest}\n")
    tmp.chmod(0o644)  # the nginx worker (nobody) must read it
    tmp.replace(path)


def vuln_report_path(sb: Sandbox) -> Path:
    return _prefix(sb) / "trivy-frontend.json"


def write_vuln_report(sb: Sandbox, *, vulnerable: bool = False) -> None:
    """The frontend image's Trivy JSON report (as a CI scan leaves it): clean, or one CRITICAL."""
    vulns = [{"VulnerabilityID": "CVE-2024-6387", "PkgName": "openssh-client",
              "InstalledVersion": "1:9.2p1-2", "FixedVersion": "1:9.2p1-2+deb12u3",
              "Severity": "CRITICAL", "Title": "regreSSHion: signal handler race"}]
    report = {"SchemaVersion": 2, "ArtifactName": "opsverify-sandbox/frontend:1",
              "ArtifactType": "container_image",
              "Results": [{"Target": "opsverify-sandbox/frontend:1 (debian 12.5)",
                           "Class": "os-pkgs", "Type": "debian",
                           "Vulnerabilities": vulns if vulnerable else []}]}
    tmp = vuln_report_path(sb).with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(vuln_report_path(sb))


def options(sb: Sandbox) -> dict[str, Any]:
    """The options in force: defaults overridden by the faults' settings."""
    return {**DEFAULTS, **sb.state.get("nginx", {}).get("options", {})}


def https_url(sb: Sandbox, path: str = "/") -> str:
    return f"https://{pki.SERVER_NAME}:{sb.state['nginx']['https_port']}{path}"


def http_url(sb: Sandbox, path: str = "/") -> str:
    return f"http://{pki.SERVER_NAME}:{sb.state['nginx']['http_port']}{path}"


def _site(sb: Sandbox, opts: dict[str, Any], backend_port: int) -> str:
    """The locations shared by the HTTPS server and (with redirect off) the HTTP one."""
    prefix = _prefix(sb)
    proxy = f"""proxy_pass http://127.0.0.1:{backend_port};
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;"""
    dotfiles = (
        """
        location ~ /\\.(?!well-known/) {
            return 404;
        }"""
        if opts["deny_dotfiles"]
        else ""
    )
    return f"""
        root {prefix}/html;
        index index.html;
        client_max_body_size 1m;
{dotfiles}
        location = /health {{ {proxy} }}
        location = /ready {{ {proxy} }}
        location = /metrics {{ {proxy} }}
        location /api/ {{ {proxy} }}
        location = /api/upload {{
            client_max_body_size {opts["upload_max_body"]};
            proxy_request_buffering {"on" if opts["upload_buffering"] else "off"};
            {proxy}
        }}
        location /uploads/ {{
            alias {backend.upload_dir(sb)}/;
            autoindex {"on" if opts["autoindex"] else "off"};
        }}
        location /admin/ {{
            auth_basic "sandbox admin";
            auth_basic_user_file {prefix}/htpasswd;
        }}
        location / {{
            try_files $uri $uri/ =404;
        }}"""


def render(sb: Sandbox, opts: dict[str, Any]) -> str:
    """The nginx.conf for these options (pure: no files touched)."""
    prefix = _prefix(sb)
    st = sb.state["nginx"]
    cert, key = _ssl_paths(sb)
    logs = sb.path("logs", "nginx")
    headers: dict[str, str] = {}
    if opts["headers"]:
        headers = dict(HEADERS)
        if not opts["hsts"]:
            headers.pop("Strict-Transport-Security")
    for name in opts["drop_headers"]:
        headers.pop(name, None)
    headers.update(opts["extra_headers"])
    add_headers = "\n".join(f'        add_header {k} "{v}" always;' for k, v in headers.items())
    ciphers = f"ssl_ciphers {opts['ciphers']};" if opts["ciphers"] else ""
    mime = f"include {MIME_TYPES};" if MIME_TYPES.exists() else "types { text/html html; }"
    site = _site(sb, opts, int(st["backend_port"]))
    plain = (
        f"""        location / {{
            return 301 https://$host:{st["https_port"]}$request_uri;
        }}"""
        if opts["redirect_http"]
        else site
    )
    return f"""# opsverify sandbox nginx (generated; options: see opsverify.sandbox.nginx.DEFAULTS)
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {logs}/error.log warn;
events {{ worker_connections 256; }}
http {{
    {mime}
    default_type application/octet-stream;
    server_tokens {"on" if opts["server_tokens"] else "off"};
    log_format sandbox '$remote_addr - $remote_user [$time_local] "$request" $status '
                       '$body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time';
    access_log {logs}/access.log sandbox;
    client_body_temp_path {prefix}/temp/client;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    sendfile on;
    keepalive_timeout 15s;

    server {{
        listen 127.0.0.1:{st["http_port"]};
        server_name {pki.SERVER_NAME} localhost;
{plain}
    }}

    server {{
        listen 127.0.0.1:{st["https_port"]} ssl;
        server_name {pki.SERVER_NAME} localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {opts["protocols"]};
        {ciphers}
        ssl_prefer_server_ciphers off;
        ssl_session_timeout 10m;
{add_headers}
{site}
    }}
}}
"""


def _ssl_paths(sb: Sandbox) -> tuple[Path, Path]:
    """Where nginx reads its certificate chain and key: fixed, so ``cert_files`` stays true."""
    return _prefix(sb) / "ssl" / "server.crt", _prefix(sb) / "ssl" / "server.key"


def _install_cert(sb: Sandbox, opts: dict[str, Any]) -> None:
    """Copy the chosen chain and key (default: the healthy server cert) where nginx reads them."""
    cert, key = _ssl_paths(sb)
    cert.parent.mkdir(parents=True, exist_ok=True)
    src_cert = Path(opts["cert"]) if opts["cert"] else pki.server_cert(sb).chain
    src_key = Path(opts["key"]) if opts["key"] else pki.server_cert(sb).key
    cert.write_bytes(src_cert.read_bytes())
    key.touch(mode=0o600)
    key.write_bytes(src_key.read_bytes())


def _conf(sb: Sandbox) -> Path:
    return _prefix(sb) / "nginx.conf"


def conf_path(sb: Sandbox) -> Path:
    """The configuration file nginx runs from (what an operator would read)."""
    return _conf(sb)


def _test(sb: Sandbox, conf: Path) -> None:
    prefix = _prefix(sb)
    proc = run(
        [NGINX, "-t", "-q", "-e", str(prefix / "startup-error.log"), "-p", str(prefix),
         "-c", str(conf)],
        timeout=10,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        msg = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise SandboxError(f"nginx rejected the configuration: {msg}")


def _start(sb: Sandbox) -> None:
    prefix = _prefix(sb)
    sb.spawn(
        "nginx",
        [NGINX, "-e", str(prefix / "startup-error.log"), "-p", str(prefix), "-c", str(_conf(sb)),
         "-g", "daemon off;"],
        cwd=prefix,
    )  # fmt: skip
    wait_port(int(sb.state["nginx"]["https_port"]), timeout=10)
    wait_port(int(sb.state["nginx"]["http_port"]), timeout=10)


def _stop(sb: Sandbox) -> None:
    """SIGTERM the master (fast shutdown) and wait: its ports must be free before a restart."""
    pids = list(sb.state.get("pids", {}).get("nginx", []))
    pidfile = _prefix(sb) / "nginx.pid"
    with contextlib.suppress(OSError, ValueError):
        pids.append(int(pidfile.read_text().strip()))
    live = []
    for pid in set(pids):
        try:
            p = psutil.Process(pid)
            if p.name() == "nginx":
                p.send_signal(signal.SIGTERM)
                live.append(pid)
        except psutil.NoSuchProcess:
            continue
    wait_gone(live, timeout=5)
    sb.stop_processes("nginx", timeout=2)


def configure(sb: Sandbox, **changes: Any) -> None:
    """Override options (``None`` restores the default of that key), test, restart nginx.

    The new file is tested before the running nginx is stopped, so a bad option raises
    SandboxError and leaves the old configuration serving.
    >>> configure(sb, hsts=False)                                   # doctest: +SKIP
    >>> configure(sb, protocols="TLSv1 TLSv1.1 TLSv1.2", ciphers="DEFAULT:@SECLEVEL=0")  # +SKIP
    """
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise SandboxError(f"unknown nginx option(s): {', '.join(sorted(unknown))}")
    st = sb.state.setdefault("nginx", {})
    current = dict(st.get("options", {}))
    for k, v in changes.items():
        if v is None:
            current.pop(k, None)
        else:
            current[k] = v
    opts = {**DEFAULTS, **current}
    candidate = _prefix(sb) / "nginx.conf.new"
    candidate.write_text(render(sb, opts))
    _install_cert(sb, opts)
    try:
        _test(sb, candidate)
    except SandboxError:
        _install_cert(sb, options(sb))  # put back the files the running nginx was started with
        raise
    candidate.replace(_conf(sb))
    st["options"] = current
    sb.save()
    _stop(sb)
    _start(sb)


def reset(sb: Sandbox, *keys: str) -> None:
    """Restore the default of the given options (all of them when none are given)."""
    names = keys or tuple(sb.state.get("nginx", {}).get("options", {}))
    configure(sb, **dict.fromkeys(names))


class NginxComponent(Component):
    """nginx on two free loopback ports: HTTPS for app.sandbox.test and an HTTP redirect."""

    name = "nginx"

    def up(self, sb: Sandbox) -> None:
        require_binary(NGINX, "nginx")
        prefix = _prefix(sb)
        for d in ("temp", "html", "html/static", "html/.git", "logs"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        sb.path("logs", "nginx").mkdir(parents=True, exist_ok=True)
        backend.upload_dir(sb).mkdir(parents=True, exist_ok=True)
        html = prefix / "html"
        (html / "index.html").write_text(
            "<!doctype html><title>sandbox viewer</title><h1>opsverify sandbox</h1>\n"
        )
        (html / "static" / "app.js").write_text("console.log('sandbox');\n")
        # Material the web server must never serve: the deny rule is what protects it.
        (html / ".env").write_text("APP_SECRET_KEY=not-a-real-secret\nDEBUG=false\n")
        (html / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 0\n")
        (backend.upload_dir(sb) / "study-0001.dcm").write_bytes(b"DICM" + b"\0" * 128)
        # A basic-auth admin page whose admin password is random (default logins must fail).
        (html / "admin").mkdir(exist_ok=True)
        (html / "admin" / "index.html").write_text("<!doctype html><title>admin</title>\n")
        write_htpasswd(sb, ADMIN_USER, sb.secret(ADMIN_PASSWORD_VAR))
        write_vuln_report(sb)
        sb.state["nginx"] = {
            "prefix": str(prefix),
            "https_port": sb.port("nginx-https"),
            "http_port": sb.port("nginx-http"),
            "backend_port": sb.state["backend"]["port"],
            "options": {},
            "access_log": str(sb.path("logs", "nginx", "access.log")),
            "error_log": str(sb.path("logs", "nginx", "error.log")),
        }
        sb.save()
        _install_cert(sb, dict(DEFAULTS))
        _conf(sb).write_text(render(sb, dict(DEFAULTS)))
        _test(sb, _conf(sb))
        _start(sb)
        self._inventory(sb)

    def _inventory(self, sb: Sandbox) -> None:
        ca = str(pki.ca_path(sb))
        port = sb.state["nginx"]["https_port"]

        def item(name: str, path: str, **extra: Any) -> dict[str, Any]:
            return {"name": name, "url": https_url(sb, path), **extra, "ca_file": ca,
                    "resolve": "127.0.0.1"}  # fmt: skip

        for it in (
            item("backend-health", "/health", expect_status=200, expect_json={"status": "healthy"}),
            # /ready opens a fresh PostgreSQL (TLS) and Redis session per call: a heavy API,
            # for which the runbooks allow a p95 of 2 s (PRF-001 bursts 50 of them).
            item("backend-ready", "/ready", expect_status=200, expect_json={"status": "ready"},
                 latency_p95_ms=2000),
            item("api-studies", "/api/studies", expect_status=200),
            item("api-version", "/api/version", expect_status=200, version=True),
            item("frontend", "/", expect_status=200),
            item("backend-metrics", "/metrics", expect_status=200,
                 expect_metrics=["http_requests_total", "http_request_duration_seconds"]),
            item("dicom-upload", "/api/upload", accepts_upload="10g"),
        ):
            sb.inventory_add("http", it)
        sb.inventory_add(
            "tls",
            {
                "name": "frontend",
                "host": "127.0.0.1",
                "port": port,
                "server_name": pki.SERVER_NAME,
                "ca_file": ca,
                "http_port": sb.state["nginx"]["http_port"],
            },
        )
        cert_path, key_path = _ssl_paths(sb)
        sb.inventory_section("cert_files", [{"path": str(cert_path), "key": str(key_path)}])
        sb.inventory_update(
            "security",
            {
                "forbidden_paths": ["/.env", "/.git/config"],
                "listing_paths": ["/uploads/"],
                "required_headers": list(HEADERS),
                "access_logs": [sb.state["nginx"]["access_log"]],
                "vulnerability_reports": [
                    {"path": str(vuln_report_path(sb)), "format": "trivy", "fail_severity": "high"}
                ],
                "default_credentials": [
                    {"url": https_url(sb, "/admin/"), "user": ADMIN_USER, "password": "admin"}
                ],
            },
        )

    def down(self, sb: Sandbox) -> None:
        _stop(sb)
