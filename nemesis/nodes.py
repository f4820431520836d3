"""Helpers shared by the faults that take whole nodes down: bring them back and wait until they serve."""
from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.errors import LabError

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

RESTART_TIMEOUT = 180.0


def state_of(cluster: Cluster, node: str) -> str:
    """Docker state of a node, or "missing" when its container is gone."""
    try:
        return cluster.node(node).state
    except LabError:
        return "missing"


def bring_back(cluster: Cluster, nodes: list[str], wait: bool = True,
               timeout: float = RESTART_TIMEOUT) -> dict[str, str]:
    """Resume paused and start stopped nodes; optionally wait until each serves again. Returns node -> action."""
    done: dict[str, str] = {}
    for node in nodes:
        state = state_of(cluster, node)
        if state == "paused":
            cluster.resume(node)
            done[node] = "resumed"
        elif state in ("exited", "created", "dead"):
            cluster.start(node)
            done[node] = "started"
        elif state == "missing":
            done[node] = "missing"
    present = [n for n in nodes if done.get(n) != "missing"]
    if wait and present:
        cluster.wait_ready(nodes=present, timeout=timeout)
    return done
