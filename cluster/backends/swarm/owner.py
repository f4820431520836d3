"""The swarm itself: with no swarm on the local engine, `up` creates a single-node one (advertised on 127.0.0.1)
and remembers that in <state root>/swarm-owner.json with every lab that uses it; the last lab's `down` leaves
the swarm and removes what it created (docker_gwbridge), so the engine is back as it was found. A swarm the
lab did not create is never left.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import time
from pathlib import Path
from typing import Iterator

import docker
import docker.errors

from cluster.backends.base import Report
from cluster.backends.swarm.plan import STACK_LABEL
from cluster.docker_env import engine
from cluster.errors import LabError
from cluster.paths import state_root
from cluster.render import LABEL_ROLE

OWNER_FILE = "swarm-owner.json"
GWBRIDGE = "docker_gwbridge"


def _noop(_: str) -> None:
    pass


# ------------------------------------------------------------------ the swarm's owner record
@contextlib.contextmanager
def _owner_lock() -> Iterator[Path]:
    path = state_root() / OWNER_FILE
    with open(state_root() / (OWNER_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path


def _read_owner(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def swarm_info(client: docker.DockerClient | None = None) -> dict:
    return (client or engine()).info().get("Swarm") or {}


def acquire_swarm(lab: str, report: Report = _noop) -> None:
    """Make sure this engine manages a swarm; create a single-node one when there is none (and remember that,
    with `lab` among its users)."""
    client = engine()
    with _owner_lock() as path:
        info = swarm_info(client)
        state = info.get("LocalNodeState", "inactive")
        owner = _read_owner(path)
        if state == "inactive":
            gw_existed = bool(client.networks.list(names=[GWBRIDGE]))
            report("no swarm on this engine: creating a single-node swarm (advertised on 127.0.0.1)")
            try:
                client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            except docker.errors.APIError as exc:
                raise LabError(f"docker swarm init failed: {exc.explanation or exc}") from exc
            owner = {"created": True, "gwbridge_existed": gw_existed, "labs": []}
        elif state != "active":
            raise LabError(f"this engine's swarm state is {state!r} ({info.get('Error') or 'no detail'}); "
                           "fix or leave that swarm first")
        elif not info.get("ControlAvailable"):
            raise LabError("this engine is a swarm worker: run the lab against a manager (DOCKER_HOST)")
        elif owner is None:
            owner = {"created": False, "labs": []}
        owner["labs"] = sorted(set(owner["labs"]) | {lab})
        path.write_text(json.dumps(owner))


def release_swarm(lab: str, report: Report = _noop) -> None:
    """Drop `lab` from the swarm's users; the last one leaves a swarm the lab created and removes its
    leftovers, so the engine's swarm state is what it was before the first `up`."""
    client = engine()
    with _owner_lock() as path:
        owner = _read_owner(path)
        if owner is None:
            return
        owner["labs"] = [name for name in owner["labs"] if name != lab]
        if owner["labs"]:
            path.write_text(json.dumps(owner))
            return
        if owner.get("created") and swarm_info(client).get("LocalNodeState") == "active":
            if client.services.list():
                report("the lab's swarm still runs services it did not create: leaving it in place")
                path.write_text(json.dumps(owner))
                return
            report("leaving the single-node swarm the lab created")
            client.swarm.leave(force=True)
        if owner.get("created") and not owner.get("gwbridge_existed"):
            remove_network(client, GWBRIDGE)
        path.unlink(missing_ok=True)


def remove_network(client: docker.DockerClient, name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = client.networks.list(names=[name])
        if not found:
            return
        try:
            found[0].remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def swarm_labs() -> list[str]:
    """Stacks of lab services on this engine's swarm (none when it is not a manager)."""
    try:
        info = swarm_info()
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            return []
        return sorted({s.attrs["Spec"].get("Labels", {}).get(STACK_LABEL, "")
                       for s in engine().services.list(filters={"label": LABEL_ROLE})} - {""})
    except docker.errors.APIError:
        return []

