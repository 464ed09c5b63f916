"""Redis hardening, observed through the inventory's (authenticated) client.

``CONFIG GET`` may be renamed or forbidden to this user — good practice, which must not be
punished: the configuration is then reported as not readable (the check skips with the
reason) rather than as broken. Dangerous commands are judged without ever running them:
``COMMAND INFO`` says whether a command exists under its own name (renamed ones do not),
``ACL DRYRUN`` whether this user may run it, ``enable-debug-command`` whether DEBUG is on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import redis

from opsverify.errors import ProbeError
from opsverify.probes import redis as redis_probe

#: Commands that wipe or reconfigure the server; the application user should not have them.
DANGEROUS = ("FLUSHALL", "FLUSHDB", "DEBUG")


def connect(url: str, *, target: str, timeout_s: float) -> redis.Redis:
    return redis_probe.connect(url, target=target, timeout_s=timeout_s)


def config_get(client: redis.Redis, key: str, *, target: str) -> str | None:
    """One CONFIG GET value; None when CONFIG is renamed, disabled or not permitted."""
    try:
        reply = client.execute_command("CONFIG", "GET", key)
    except (redis.exceptions.NoPermissionError, redis.ResponseError) as exc:
        text = str(exc).lower()
        if "unknown command" in text or "noperm" in text or "permission" in text:
            return None
        raise ProbeError(target, f"CONFIG GET {key} failed: {redis_probe.describe(exc)}") from None
    except redis.RedisError as exc:
        redis_probe.call(client, "PING", target=target)  # turns a connection error into ProbeError
        raise ProbeError(target, f"CONFIG GET {key} failed: {redis_probe.describe(exc)}") from None
    if isinstance(reply, dict):
        return str(reply.get(key, "")) if reply else ""
    if isinstance(reply, list | tuple) and len(reply) >= 2:
        return str(reply[1])
    return ""


@dataclass
class NetworkExposure:
    config_readable: bool
    protected_mode: str | None
    bind: list[str] = field(default_factory=list)
    public_bind: list[str] = field(default_factory=list)


def is_public_bind(addr: str) -> bool:
    """All interfaces (``*``, ``0.0.0.0``, ``::``) or a global address; loopback and private
    ranges are not public. A leading ``-`` (optional address in Redis 7) is ignored."""
    a = addr.strip().lstrip("-")
    if a in ("*", "0.0.0.0", "::", "::*", ""):
        return True
    try:
        ip = ipaddress.ip_address(a.split("%")[0])
    except ValueError:
        return False  # a host name: judged by what it resolves to, which we do not look up
    return not (ip.is_loopback or ip.is_private or ip.is_link_local)


def network_exposure(client: redis.Redis, *, target: str) -> NetworkExposure:
    protected = config_get(client, "protected-mode", target=target)
    bind = config_get(client, "bind", target=target)
    if protected is None and bind is None:
        return NetworkExposure(False, None)
    addrs = (bind or "").split()
    public = [a for a in addrs if is_public_bind(a)] if addrs else ["(all interfaces)"]
    return NetworkExposure(True, protected, addrs, public)


@dataclass
class DangerousCommands:
    user: str | None
    available: list[str]
    unavailable: dict[str, str]  # command -> why it is not usable
    undetermined: dict[str, str]
    config_available: bool | None


def dangerous_commands(client: redis.Redis, *, target: str) -> DangerousCommands:
    """For each of :data:`DANGEROUS`: renamed/disabled, denied by ACL, or usable by this user."""
    try:
        user: str | None = str(redis_probe.call(client, "ACL", "WHOAMI", target=target))
    except ProbeError:
        user = None
    info: Any = redis_probe.call(client, "COMMAND", "INFO", *DANGEROUS, target=target)
    exists = {name: bool(entry) for name, entry in zip(DANGEROUS, info or [], strict=False)}
    debug_setting = config_get(client, "enable-debug-command", target=target)
    out = DangerousCommands(user, [], {}, {}, None)
    out.config_available = config_get(client, "maxmemory", target=target) is not None
    for name in DANGEROUS:
        if not exists.get(name):
            out.unavailable[name] = "renamed or disabled (unknown to COMMAND INFO)"
            continue
        if name == "DEBUG" and debug_setting == "no":
            out.unavailable[name] = "disabled (enable-debug-command no)"
            continue
        if user is None:
            out.undetermined[name] = "ACL WHOAMI not permitted: cannot ask ACL DRYRUN"
            continue
        try:
            reply = client.execute_command("ACL", "DRYRUN", user, name)
        except redis.exceptions.NoPermissionError:
            out.undetermined[name] = "ACL DRYRUN not permitted to this user"
            continue
        except redis.RedisError as exc:
            raise ProbeError(target, f"ACL DRYRUN failed: {redis_probe.describe(exc)}") from None
        # OK when the user may run it, else a text saying why not (not an error reply).
        if reply is True or str(reply) in ("OK", "b'OK'"):
            out.available.append(name)
        else:
            out.unavailable[name] = f"denied to user {user} by ACL"
    return out
