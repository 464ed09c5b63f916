"""nginx directives the runbook requires for large uploads are in the configuration file.

PYTEST_DONT_REWRITE: the assertion messages are written for the on-call engineer.
"""

from __future__ import annotations

from typing import Any

from opsverify.catalog import check
from opsverify.evidence import attach
from opsverify.inventory import Inventory
from opsverify.probes import hosts as hosts_probe
from opsverify.probes import nginx_conf


def nginx_confs(inv: Inventory) -> list[tuple[str, Any]]:
    """hosts[].nginx_conf (with nginx_directives)"""
    return [(f"{h.name}:{h.nginx_conf}", h) for h in inv.hosts
            if h.nginx_conf and h.nginx_directives]


@check(
    id="HLT-015",
    title="The nginx configuration holds the directives the runbook requires",
    severity="normal",
    schedules=["daily", "predeploy"],
    targets=nginx_confs,
    rationale="""Multi-gigabyte DICOM uploads need nginx to stream the body to the backend
        (`proxy_request_buffering off`) and to wait long enough for it
        (`proxy_read_timeout`): with the defaults, nginx first spools the whole upload to its
        temp disk and cuts the request after 60 s, so large studies fail while small ones
        work and every health check stays green.""",
    remediation="""Add the missing directives to the upload location of the nginx
        configuration (runbook 001 'Upload Limits': `client_max_body_size 10G;
        proxy_request_buffering off; proxy_read_timeout 600s;`), run `nginx -t` and reload
        nginx.""",
    references=["runbook 001 Horalix View: Upload Limits (proxy_read_timeout, "
                "proxy_request_buffering off)"],
)
def test_nginx_directives_present(target: Any) -> None:
    name = f"{target.name}:{target.nginx_conf}"
    host = hosts_probe.get_host(target.target, target.ssh_config)
    obs = nginx_conf.check_directives(host, target.nginx_conf, target.nginx_directives,
                                      target=name)
    attach("nginx directives", obs)
    problems = []
    for want in obs.missing:
        key = want.split(" ", 1)[0]
        seen = obs.found.get(key) or []
        problems.append(f"'{want}' is missing" + (f" ({key} is {', '.join(sorted(set(seen)))})"
                                                  if seen else ""))
    assert not problems, (f"{name}: " + "; ".join(problems)
                          + (f" (includes not read: {', '.join(obs.includes)})"
                             if obs.includes else ""))
