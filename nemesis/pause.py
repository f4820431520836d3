"""Pause nodes (the cgroup freezer, as docker pause: every process stops like SIGSTOP, sockets stay open, so
peers see a node that accepts connections and consumes nothing); heal resumes them."""
from __future__ import annotations

import random
from typing import Any, TYPE_CHECKING

from nemesis.base import TARGET_ROLES, Fault, register
from nemesis.nodes import state_of

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster


@register
class Pause(Fault):
    name = "pause"
    summary = "freeze nodes (SIGSTOP-like: open sockets, no progress); heal resumes them"
    ROLES = TARGET_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        self.paused: list[str] = []

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = self._targets(cluster, rng)
        for node in nodes:
            self.paused.append(node.name)
            cluster.pause(node.name)
        return {"paused": [n.name for n in nodes]}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        resumed = []
        for node in self.paused:
            if state_of(cluster, node) == "paused":
                cluster.resume(node)
                resumed.append(node)
        self.paused = []
        return {"resumed": resumed}

    def describe(self) -> str:
        return f"pause {self.target}, resume on heal"
