"""PostgreSQL hardening, read through a read-only monitoring session.

What a ``pg_monitor`` role can and cannot see decides what is verifiable:

- ``pg_roles`` (superusers) and ``SHOW`` (``password_encryption``, ``ssl``) are readable by
  every role: always checked.
- Stored password hashes live in ``pg_authid.rolpassword``, readable only by superusers (on
  purpose: it holds the hashes). With a monitoring role the md5 question is answered through
  ``password_encryption`` (new and changed passwords are hashed with it) and the per-role
  scan is reported as *not verifiable* instead of guessed.
- ``pg_hba_file_rules`` is superuser-only by default; a monitoring role may be granted it
  (``GRANT SELECT ON pg_hba_file_rules`` and ``EXECUTE ON FUNCTION pg_hba_file_rules()``:
  rules, not passwords). Without the grant the hba check is skipped with that reason.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsverify.errors import ProbeError
from opsverify.probes import postgres as pg


@dataclass
class Superusers:
    superusers: list[str]
    allowed: list[str]

    @property
    def extra(self) -> list[str]:
        return sorted(set(self.superusers) - set(self.allowed))

    @property
    def allowed_but_not_superuser(self) -> list[str]:
        return sorted(set(self.allowed) - set(self.superusers))


def superusers(conn: psycopg.Connection[Any], allowed: list[str], *, target: str) -> Superusers:
    rows = pg.query(conn, "SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY rolname",
                    target=target)
    return Superusers(superusers=[r["rolname"] for r in rows], allowed=list(allowed))


@dataclass
class PasswordHashing:
    password_encryption: str
    md5_roles: list[str] | None  # None: pg_authid not readable by this role
    md5_scan: str  # what was done about stored hashes, in words


def password_hashing(conn: psycopg.Connection[Any], *, target: str) -> PasswordHashing:
    setting = pg.query(conn, "SELECT current_setting('password_encryption') AS v",
                       target=target)[0]["v"]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'md5%' "
                        "ORDER BY rolname")
            rows = cur.fetchall()
    except psycopg.errors.InsufficientPrivilege:
        return PasswordHashing(setting, None, "not verifiable: pg_authid (stored password "
                                              "hashes) is readable by superusers only")
    except psycopg.Error as exc:
        raise ProbeError(target, f"query of pg_authid failed: {pg.describe(exc)}") from None
    roles = [r["rolname"] for r in rows]
    return PasswordHashing(setting, roles, f"pg_authid scanned: {len(roles)} md5 hash(es)")


@dataclass
class HbaRule:
    line: int
    type: str
    database: list[str]
    user: list[str]
    address: str | None
    netmask: str | None
    auth_method: str


@dataclass
class HbaRules:
    readable: bool
    reason: str = ""
    rules: list[HbaRule] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def nonlocal_trust(self) -> list[HbaRule]:
        return [r for r in self.rules if r.auth_method == "trust" and not is_local_rule(r)]


def is_local_rule(rule: HbaRule) -> bool:
    """A ``local`` (unix socket) rule, or a TCP rule whose address is loopback only."""
    if rule.type == "local":
        return True
    addr = (rule.address or "").strip()
    if addr in ("", "all", "samehost", "samenet", "0.0.0.0", "::"):
        return False
    try:
        # pg_hba_file_rules gives masks in address form (IPv6 too): count their bits.
        bits = bin(int(ipaddress.ip_address(rule.netmask))).count("1") if rule.netmask else None
        net = ipaddress.ip_network(f"{addr}/{bits}" if bits is not None else addr, strict=False)
    except ValueError:
        return addr == "localhost"
    return net.subnet_of(ipaddress.ip_network("127.0.0.0/8")) if net.version == 4 else \
        net.subnet_of(ipaddress.ip_network("::1/128"))


def hba_rules(conn: psycopg.Connection[Any], *, target: str) -> HbaRules:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT line_number, type, database, user_name, address, netmask, "
                        "auth_method, error FROM pg_hba_file_rules ORDER BY line_number")
            rows = cur.fetchall()
    except psycopg.errors.InsufficientPrivilege:
        return HbaRules(False, "pg_hba_file_rules is not readable by this role (superuser only "
                               "by default; grant SELECT on it and EXECUTE on "
                               "pg_hba_file_rules() to the monitoring role)")
    except psycopg.Error as exc:
        raise ProbeError(target, f"query of pg_hba_file_rules failed: {pg.describe(exc)}") from None
    out = HbaRules(True)
    for r in rows:
        if r["error"]:
            out.errors.append(f"line {r['line_number']}: {r['error']}")
            continue
        out.rules.append(HbaRule(
            line=int(r["line_number"]), type=str(r["type"]),
            database=list(r["database"] or []), user=list(r["user_name"] or []),
            address=r["address"], netmask=r["netmask"], auth_method=str(r["auth_method"]),
        ))
    return out


@dataclass
class SslSetting:
    ssl: str
    session_encrypted: bool | None


def ssl_setting(conn: psycopg.Connection[Any], *, target: str) -> SslSetting:
    value = pg.query(conn, "SELECT current_setting('ssl') AS v", target=target)[0]["v"]
    rows = pg.query(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    target=target)
    return SslSetting(str(value), bool(rows[0]["ssl"]) if rows else None)
