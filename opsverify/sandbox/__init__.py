"""The embedded environment: real services on loopback, named fault injection.

>>> from opsverify import sandbox                                     # doctest: +SKIP
>>> sb = sandbox.up()            # PostgreSQL, Redis, backend, nginx, Prometheus, ...
>>> sandbox.inject(sb, "cert_expiring"); sandbox.revert(sb, "cert_expiring")
>>> sandbox.down()

The fault registry is ``opsverify.sandbox.manager.faults()`` (exported here as
``fault_registry``: the name ``faults`` belongs to the subpackage of fault modules).

The command line is ``python -m opsverify.sandbox up|down|status|inject|revert|faults``.
"""

from .base import Component, Fault, Sandbox, SandboxError
from .manager import down, inject, revert, status, up, write_inventory
from .manager import faults as fault_registry

__all__ = [
    "Component",
    "Fault",
    "Sandbox",
    "SandboxError",
    "down",
    "fault_registry",
    "inject",
    "revert",
    "status",
    "up",
    "write_inventory",
]
