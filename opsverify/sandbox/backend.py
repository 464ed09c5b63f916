"""The backend component: ``backend_app`` served by gunicorn on 127.0.0.1.

One worker with threads, so the prometheus_client registry in that worker is complete (no
multiprocess directory to manage). Faults change its behaviour through the control file, which
the app re-reads when it changes: no restart, no race.

Knobs for fault modules: :func:`set_control`, :func:`reset_control`, :func:`control`,
:func:`url`, :func:`app_log`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import requests

from . import postgres, rediscache
from .base import Component, Sandbox, SandboxError, wait_gone, wait_port

CONFIG_ENV = "OPSVERIFY_BACKEND_CONFIG"


def _dir(sb: Sandbox) -> Path:
    return sb.path("backend")


def control_file(sb: Sandbox) -> Path:
    return _dir(sb) / "control.json"


def app_log(sb: Sandbox) -> Path:
    """The application log (failed logins are written here)."""
    return sb.path("logs", "app", "app.log")


def upload_dir(sb: Sandbox) -> Path:
    return sb.path("nginx", "uploads")


def url(sb: Sandbox, path: str = "/") -> str:
    """The backend's own URL (plain HTTP on loopback, behind nginx)."""
    return f"http://127.0.0.1:{sb.state['backend']['port']}{path}"


def control(sb: Sandbox) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(control_file(sb).read_text() or "{}")
        return data
    except (OSError, ValueError):
        return {}


def set_control(sb: Sandbox, **knobs: Any) -> None:
    """Change the app's behaviour at once (a value of ``None`` removes that knob).

    Knobs: ``health_status`` ("degraded": /health still answers 200), ``ready_fail`` (bool:
    /ready 503), ``slow_ms`` (+ optional ``slow_paths``), ``error_rate`` 0..1 (+ optional
    ``error_paths``: 500s), ``version`` (/api/version and /health), ``metrics_hidden``
    (metric family prefixes left out of /metrics), ``grafana_logins`` / ``form_logins``
    ({user: password} accepted by /grafana/login and /portal/login; none by default).
    >>> set_control(sb, health_status="degraded")                 # doctest: +SKIP
    """
    data = control(sb)
    for k, v in knobs.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    tmp = control_file(sb).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(control_file(sb))  # a new inode each time: the app notices every change


def reset_control(sb: Sandbox) -> None:
    """Back to the healthy behaviour."""
    control_file(sb).unlink(missing_ok=True)
    set_control(sb)


def _gunicorn_argv(sb: Sandbox, port: int) -> list[str]:
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError as exc:
        raise SandboxError(
            "gunicorn is not installed: pip install 'opsverify[sandbox]' (or gunicorn)"
        ) from exc
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "8", "--worker-class", "gthread",
        "--timeout", "120", "--graceful-timeout", "2",
        "--access-logfile", str(sb.path("logs", "app", "access.log")),
        "--pid", str(_dir(sb) / "gunicorn.pid"),
        "--chdir", str(_dir(sb)),
    ]  # fmt: skip
    settings = {s.name for s in KNOWN_SETTINGS}
    if "control_socket" in settings:  # gunicorn >= 25 opens ~/.gunicorn/gunicorn.ctl: not shared
        argv += ["--control-socket", str(_dir(sb) / "gunicorn.ctl")]
    return [*argv, "opsverify.sandbox.backend_app:app"]


def _stop(sb: Sandbox) -> None:
    """SIGINT: gunicorn's quick shutdown (SIGTERM is graceful and waits for the workers)."""
    for pid in sb.state.get("pids", {}).get("backend", []):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(signal.SIGINT)
    wait_gone(list(sb.state.get("pids", {}).get("backend", [])), timeout=3)
    sb.stop_processes("backend", timeout=2)


class BackendComponent(Component):
    """The WSGI backend (health, readiness, metrics, API) on a free loopback port."""

    name = "backend"

    def up(self, sb: Sandbox) -> None:
        d = _dir(sb)
        d.mkdir(parents=True, exist_ok=True)
        app_log(sb).parent.mkdir(parents=True, exist_ok=True)
        app_log(sb).touch()
        upload_dir(sb).mkdir(parents=True, exist_ok=True)
        port = sb.port("backend")
        pg = postgres.info(sb)
        app_pw = sb.state["env"][postgres.ROLE_VARS["app"]]
        redis_url = sb.state["env"][rediscache.URL_VAR]
        config = {
            "database_url": (
                f"postgresql://app:{app_pw}@127.0.0.1:{pg['port']}/{postgres.APP_DB}"
                f"?sslmode=verify-full&sslrootcert={pg['ca_file']}"
            ),
            "redis_url": redis_url,
            "control_file": str(control_file(sb)),
            "log_dir": str(app_log(sb).parent),
            "upload_dir": str(upload_dir(sb)),
        }
        cfg = d / "config.json"
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh)
        reset_control(sb)
        sb.state["backend"] = {
            "port": port,
            "control_file": str(control_file(sb)),
            "app_log": str(app_log(sb)),
            "upload_dir": str(upload_dir(sb)),
        }
        sb.save()
        sb.spawn(
            "backend",
            _gunicorn_argv(sb, port),
            env={CONFIG_ENV: str(cfg), "PYTHONUNBUFFERED": "1"},
            cwd=d,
        )
        wait_port(port, timeout=20)
        resp = requests.get(url(sb, "/ready"), timeout=10)
        if resp.status_code != 200:
            raise SandboxError(f"backend /ready answered {resp.status_code}: {resp.text[:200]}")
        sb.inventory_update(
            "security",
            {
                "default_credentials": [
                    {"url": url(sb, "/api/login"), "user": "admin", "password": "admin"},
                    {"url": url(sb, "/grafana/login"), "kind": "grafana", "user": "admin",
                     "password": "admin"},
                    {"url": url(sb, "/portal/login"), "kind": "form", "user": "guest",
                     "password": "guest", "user_field": "j_username",
                     "password_field": "j_password"},
                ]
            },
        )

    def down(self, sb: Sandbox) -> None:
        _stop(sb)
