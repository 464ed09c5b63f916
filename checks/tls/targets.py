"""Which endpoints, sites and files the tls checks apply to (derived from the inventory).

A certificate is a property of an endpoint (address, port, SNI), not of a URL: the six https
``http`` items of one site share one endpoint and must cost one handshake, not six. So the
endpoint targets are the ``tls`` items plus every distinct https endpoint among the ``http``
items that no ``tls`` item already covers.
"""

from __future__ import annotations

import dataclasses

from opsverify.inventory import CertFile, HttpEndpoint, Inventory, TlsEndpoint
from opsverify.probes.tls import Endpoint


def _ca(inventory: Inventory, ca_file: str | None) -> str | None:
    return str(inventory.resolve_path(ca_file)) if ca_file else None


def tls_endpoints(inventory: Inventory) -> list[tuple[str, Endpoint]]:
    """tls or https http items

    One target per distinct (address, port, SNI, STARTTLS): every ``tls`` item by its name,
    then each https endpoint of the ``http`` items not already covered, named ``host:port``
    (``host:port@address`` when the item pins an address with ``resolve``). Those items share
    the first one's ``ca_file``.
    """
    out: list[tuple[str, Endpoint]] = []
    seen: dict[tuple[str, int, str, str | None], Endpoint] = {}
    for t in inventory.tls:
        key = (t.host, t.port, t.sni, t.starttls)
        if key in seen:
            continue
        ep = Endpoint(name=t.name, host=t.host, port=t.port, sni=t.sni,
                      ca_file=_ca(inventory, t.ca_file), starttls=t.starttls,
                      source=f"tls item {t.name}")
        seen[key] = ep
        out.append((t.name, ep))
    grouped: dict[tuple[str, int, str, str | None], list[HttpEndpoint]] = {}
    for h in inventory.http:
        if h.scheme != "https":
            continue
        key = (h.resolve or h.host, h.port, h.host, None)
        grouped.setdefault(key, []).append(h)
    for key, items in grouped.items():
        names = ", ".join(i.name for i in items)
        if key in seen:
            ep = seen[key]
            idx = next(i for i, (_, e) in enumerate(out) if e is ep)
            merged = dataclasses.replace(ep, source=f"{ep.source}; http items {names}")
            out[idx] = (out[idx][0], merged)
            seen[key] = merged
            continue
        first = items[0]
        name = f"{first.host}:{first.port}" + (f"@{first.resolve}" if first.resolve else "")
        ep = Endpoint(name=name, host=key[0], port=key[1], sni=first.host,
                      ca_file=_ca(inventory, first.ca_file), source=f"http items {names}")
        seen[key] = ep
        out.append((name, ep))
    return out


def postgres_tls_endpoints(inventory: Inventory) -> list[tuple[str, Endpoint]]:
    """tls items with starttls: postgres

    PostgreSQL servers the inventory expects to speak TLS.
    """
    return [(n, ep) for n, ep in tls_endpoints(inventory) if ep.starttls == "postgres"]


def https_origins(inventory: Inventory) -> list[tuple[str, HttpEndpoint]]:
    """https http items

    One target per distinct https origin (and pinned address): the first item of each, whose
    URL is known to answer, is fetched to read its response headers.
    """
    out: list[tuple[str, HttpEndpoint]] = []
    seen: set[tuple[str, str | None]] = set()
    for h in inventory.http:
        if h.scheme != "https" or (h.origin, h.resolve) in seen:
            continue
        seen.add((h.origin, h.resolve))
        out.append((h.origin.removeprefix("https://") + (f"@{h.resolve}" if h.resolve else ""),
                    h))
    return out


def redirect_sites(inventory: Inventory) -> list[tuple[str, TlsEndpoint]]:
    """tls items with http_port

    Sites that also listen on plain HTTP: that port must send visitors to HTTPS.
    """
    return [(t.name, t) for t in inventory.tls if t.http_port]


def cert_files_with_key(inventory: Inventory) -> list[tuple[str, CertFile]]:
    """cert_files entries with a key

    Certificate files whose private key file is named, so the pair can be compared.
    """
    return [(c.label, c) for c in inventory.cert_files if c.key]

