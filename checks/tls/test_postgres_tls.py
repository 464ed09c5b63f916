"""PostgreSQL over TLS: the server negotiates TLS when the inventory says it should."""

from __future__ import annotations

from checks.tls.targets import postgres_tls_endpoints
from fixtures.tls import TlsCache
from opsverify.catalog import check
from opsverify.errors import ProbeError
from opsverify.evidence import attach
from opsverify.inventory import Inventory
from opsverify.probes.tls import Endpoint


@check(
    id="CRT-013",
    title="PostgreSQL servers declared with STARTTLS accept TLS (sslmode=require)",
    severity="critical",
    schedules=["daily", "predeploy", "postdeploy"],
    targets=postgres_tls_endpoints,
    rationale="""Clients configured with sslmode=require (or verify-full) cannot connect to a
    server with ssl = off, and clients with sslmode=prefer silently fall back to sending
    passwords and data in clear text. The certificate it presents is judged by CRT-001 to
    CRT-007 like any other endpoint.""",
    remediation="""Set ssl = on with ssl_cert_file / ssl_key_file (and ssl_min_protocol_version
    = 'TLSv1.2') in postgresql.conf, use hostssl lines in pg_hba.conf, reload
    (SELECT pg_reload_conf()), then verify with `psql "sslmode=require host=..."`.""",
    references=["runbook 003 SpherosegV4: Database Connection Issues",
                "https://www.postgresql.org/docs/15/ssl-tcp.html"],
)
def test_postgres_accepts_tls(target: Endpoint, inventory: Inventory,
                              tls_cache: TlsCache) -> None:
    try:
        obs = tls_cache.observe(target, inventory.threshold("timeout_s"))
    except ProbeError as exc:
        if not tls_cache.not_offered(target):
            raise
        raise AssertionError(f"{target.name}: {exc.problem}; clients using sslmode=require "
                             "cannot connect") from None
    attach("tls", obs.summary())
