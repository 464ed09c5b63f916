"""Transaction-ID wraparound: every database's oldest unfrozen XID stays far from the limit.

PostgreSQL compares transaction IDs modulo 2^32, so a row's XID must be frozen by VACUUM before
its age reaches 2^31; close to that limit the server stops assigning XIDs and refuses every
write until a VACUUM has run (documentation: "Preventing Transaction ID Wraparound Failures").
Autovacuum freezes rows long before, from autovacuum_freeze_max_age (200 million by default,
~9 % of the limit) on; an age far above it means freezing is blocked (a forgotten prepared
transaction, an old session or snapshot, a stale replication slot) or cannot keep up.
"""

from __future__ import annotations

from typing import Any

import psycopg

from opsverify.catalog import check
from opsverify.evidence import attach, attach_threshold
from opsverify.inventory import Inventory
from opsverify.probes import pg_stats

DOCS_WRAPAROUND = ("https://www.postgresql.org/docs/15/routine-vacuuming.html"
                   "#VACUUM-FOR-WRAPAROUND")


def _culprits(obs: pg_stats.XidAges) -> str:
    """What keeps VACUUM from freezing, or why nothing does (autovacuum off or too slow)."""
    try:
        floor = int(obs.settings.get("autovacuum_freeze_max_age", "200000000"))
    except ValueError:
        floor = 200_000_000
    old = [h for h in obs.holders if h.xid_age >= floor]
    if old:
        return "holding back freezing: " + "; ".join(h.line() for h in old[:3])
    auto = obs.settings.get("autovacuum", "on")
    return ("nothing holds the freeze horizon now (no old prepared transaction, session or "
            f"replication slot; autovacuum is {auto}): VACUUM (FREEZE) has not run on the "
            "oldest relations")


@check(
    id="DB-008",
    title="No database's transaction-ID age exceeds xid_age_max_pct of the wraparound limit",
    severity="critical",
    schedules=["daily"],
    targets="postgres",
    rationale="""Transaction IDs are 32-bit and compared modulo 2^32: every row must be frozen
        by VACUUM before its XID is 2^31 (about 2.1 billion) transactions old. Near that limit
        PostgreSQL stops assigning XIDs and the whole cluster refuses writes until a long
        single-user VACUUM has run: an outage measured in hours. Autovacuum normally keeps the
        age around autovacuum_freeze_max_age (200 million, ~9 % of the limit); xid_age_max_pct
        50 % is five times that, so a finding means freezing has been blocked or failing for
        about 900 million transactions, and still leaves time to act before the failsafe
        (vacuum_failsafe_age 1.6 billion, 75 %) and the shutdown. Multixact IDs wrap the same
        way and are judged against the same limit.""",
    remediation="""Remove what holds back the freeze horizon (named in the message): COMMIT
        PREPARED or ROLLBACK PREPARED old entries of pg_prepared_xacts; terminate sessions
        with an old backend_xmin (pg_terminate_backend); drop replication slots nobody
        consumes (pg_drop_replication_slot) or fix the standby behind hot_standby_feedback.
        Then VACUUM (FREEZE, VERBOSE) the oldest relations in every database (vacuumdb --all
        --freeze; template0 needs ALLOW_CONNECTIONS for it, or leave it to autovacuum) and
        check age(datfrozenxid) drops. Never disable autovacuum.""",
    references=[DOCS_WRAPAROUND, "runbook 002 AlloDoc: Analyze and vacuum database (monthly)",
                "runbook 004 Medical Device Regulatory Assistant: Vacuum database"],
)
def test_xid_age_below_wraparound_limit(target: Any, inventory: Inventory,
                                        pg_session: psycopg.Connection[Any]) -> None:
    limit = inventory.threshold("xid_age_max_pct", target)
    attach_threshold(xid_age_max_pct=limit)
    obs = pg_stats.xid_ages(pg_session, target=target.name)
    attach("transaction-ID age", {
        "wraparound_limit": pg_stats.WRAPAROUND_LIMIT,
        "databases": [{**d.__dict__, "xid_pct": round(d.xid_pct, 2),
                       "mxid_pct": round(d.mxid_pct, 2)} for d in obs.databases],
        "oldest_relations_in_connected_database": obs.oldest_relations,
        "horizon_holders": [{**h.__dict__} for h in obs.holders],
        "settings": obs.settings,
    })
    worst_xid = max(obs.databases, key=lambda d: d.xid_age)
    worst_mxid = max(obs.databases, key=lambda d: d.mxid_age)
    assert worst_xid.xid_pct <= limit, (
        f"{target.name}: database {worst_xid.database}'s oldest unfrozen transaction ID is "
        f"{worst_xid.xid_age:,} transactions old, {worst_xid.xid_pct:.0f}% of the 2^31 "
        f"wraparound limit, above xid_age_max_pct {limit:g}% (autovacuum_freeze_max_age "
        f"{obs.settings.get('autovacuum_freeze_max_age', '?')}); at the limit PostgreSQL "
        f"refuses all writes; {_culprits(obs)}")
    assert worst_mxid.mxid_pct <= limit, (
        f"{target.name}: database {worst_mxid.database}'s oldest multixact ID is "
        f"{worst_mxid.mxid_age:,} multixacts old, {worst_mxid.mxid_pct:.0f}% of the 2^31 "
        f"wraparound limit, above xid_age_max_pct {limit:g}% "
        f"(autovacuum_multixact_freeze_max_age "
        f"{obs.settings.get('autovacuum_multixact_freeze_max_age', '?')}); {_culprits(obs)}")
