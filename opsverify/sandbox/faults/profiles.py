"""Faults typical of the reference systems' runbooks that the generic faults do not model.

Used by the per-profile self-tests (tests/reference/test_profiles.py, rows in
tests/matrix/profiles.py); they are real and revertible on any sandbox that has the part they
break (a fault that needs a profile's part says so instead of pretending).

- ``api_health_failing``: the backend's ``/api/health`` answers 500 while ``/health`` still
  answers 200 (runbook 000's daily script: ``curl -f http://localhost:3001/api/health``). The
  backend's control file sends every ``/api/health`` request into its injected-failure path.
- ``ml_service_down``: SpherosegV4's ML service (its own process, ``/health`` on its own port)
  is stopped (runbook 003, "ML Service Issues"); revert starts it again on the same port.
- ``ml_container_exited``: SpherosegV4's ``ml`` container is stopped (Exited) while compose
  declares it (runbook 003: ``docker compose ps``, "ML Service Issues"); revert recreates it
  healthy.
- ``redis_down``: redis-server is shut down, so the regulatory assistant's ``/health/redis``
  answers 503 and Redis refuses connections (runbook 004, "Redis health"); revert starts it
  again with the same configuration, password, ACL hardening and keys.
"""

from __future__ import annotations

import psutil

from opsverify.sandbox import backend, dockerengine, monitoring, profiles, rediscache
from opsverify.sandbox.base import Fault, Sandbox, SandboxError

AREA = "health"
API_HEALTH = "/api/health"


# --- /api/health failing ------------------------------------------------------------------------
def _api_health_inject(sb: Sandbox) -> None:
    backend.set_control(sb, error_rate=1.0, error_paths=[API_HEALTH])


def _api_health_revert(sb: Sandbox) -> None:
    if backend.control(sb).get("error_paths") == [API_HEALTH]:
        backend.set_control(sb, error_rate=None, error_paths=None)


# --- ML service down ----------------------------------------------------------------------------
def _ml_inject(sb: Sandbox) -> None:
    if not profiles.active(sb).get("ml_service"):
        raise SandboxError("this sandbox runs no ML service (start it with --profile spherosegv4)")
    profiles.stop_ml(sb)


def _ml_revert(sb: Sandbox) -> None:
    if not profiles.active(sb).get("ml_service") or profiles.ml_running(sb):
        return
    profiles.start_ml(sb)
    if "ml" in sb.state.get("monitoring", {}).get("extra_targets", {}):
        # the next check run must not find the scrape target still down
        monitoring.wait_targets(sb, expect={"ml": "up"}, timeout=15)


# --- ML container exited ------------------------------------------------------------------------
ML_CONTAINER = "ml"


def _ml_container_inject(sb: Sandbox) -> None:
    if ML_CONTAINER not in dockerengine.services(sb):
        raise SandboxError("this sandbox's compose project has no ml service "
                           "(start it with --profile spherosegv4)")
    name = dockerengine.container_name(ML_CONTAINER, sb)
    with dockerengine.engine(sb) as client:
        client.containers.get(name).stop(timeout=5)
        dockerengine.wait_for(client, name, lambda a: a["State"]["Status"] == "exited",
                              "exited")


def _ml_container_revert(sb: Sandbox) -> None:
    if ML_CONTAINER in dockerengine.services(sb):
        dockerengine.restore_service(sb, ML_CONTAINER)


# --- Redis down ---------------------------------------------------------------------------------
def _redis_alive(sb: Sandbox) -> bool:
    return any(psutil.pid_exists(p) for p in sb.state.get("pids", {}).get("redis", []))


def _redis_inject(sb: Sandbox) -> None:
    rediscache.info(sb)  # raises when this sandbox has no Redis
    sb.stop_processes("redis", timeout=5)


def _redis_revert(sb: Sandbox) -> None:
    if _redis_alive(sb):
        return
    # The component's own start: same port, password, config, ACL and keys. It re-declares
    # its inventory item; keep the name the profile gave it.
    items = [dict(i) for i in sb.state.get("inventory", {}).get("redis", [])]
    rediscache.RedisComponent().up(sb)
    if items:
        sb.state["inventory"]["redis"] = items
        sb.save()


FAULTS: list[Fault] = [
    Fault("api_health_failing", AREA,
          f"backend {API_HEALTH} answers 500 while /health still answers 200",
          _api_health_inject, _api_health_revert),
    Fault("ml_service_down", AREA,
          "the ML service process (profile spherosegv4) is stopped: its /health is refused",
          _ml_inject, _ml_revert),
    Fault("ml_container_exited", AREA,
          "the ml container (profile spherosegv4) is stopped (Exited) while it should run",
          _ml_container_inject, _ml_container_revert),
    Fault("redis_down", AREA,
          "redis-server is shut down: connections refused, the backend's /health/redis 503",
          _redis_inject, _redis_revert),
]
