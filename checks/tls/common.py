"""Wording shared by the tls checks: how a certificate's validity is told to on-call engineers.

Users confuse "the leaf expires" with "something in the chain expires": every expiry message
states both, and names the certificate, its date and the days left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from opsverify.probes.tls import CertInfo


def when(c: CertInfo, now: dt.datetime) -> str:
    """``expires in 5.0 days (2026-11-28 12:40 UTC)`` or ``expired 2.0 days ago (...)``."""
    days = c.days_left(now)
    date = c.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        return f"expired {-days:.1f} days ago ({date})"
    return f"expires in {days:.1f} days ({date})"


def expiry_problem(name: str, certs: Sequence[CertInfo], limit_days: float, threshold: str,
                   now: dt.datetime, where: str, *, not_yet_valid: bool) -> str | None:
    """The finding for ``certs`` (leaf first) against ``limit_days``, or None when fine.

    ``not_yet_valid`` also flags certificates whose validity has not started (clients reject
    them exactly like expired ones).
    """
    leaf = certs[0]
    if not_yet_valid:
        early_start = [c for c in certs if c.not_before > now]
        if early_start:
            c = early_start[0]
            role = "leaf" if c is leaf else "certificate"
            days = (c.not_before - now).total_seconds() / 86400
            return (f"{name}: {role} {c.label()} in the {where} is not yet valid: valid from "
                    f"{c.not_before.strftime('%Y-%m-%d %H:%M UTC')} (in {days:.1f} days); "
                    "clients reject it until then (issued for the future, or a wrong clock)")
    early = min(certs, key=lambda c: c.not_after)
    if early.days_left(now) >= limit_days:
        return None
    chain_part = ("it is also the earliest expiry in the " + where if early is leaf else
                  f"earliest expiry in the {where}: {early.label()} {when(early, now)}")
    return (f"{name}: leaf {leaf.label()} {when(leaf, now)}; {chain_part}; "
            f"threshold {threshold} = {limit_days:g} days")
