"""kill -9 nodes; heal starts them again (their containers keep their identity and queues)."""
from __future__ import annotations

import random
from typing import Any, TYPE_CHECKING

from nemesis.base import TARGET_ROLES, Fault, Opt, register
from nemesis.nodes import bring_back

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster


@register
class Kill(Fault):
    name = "kill"
    summary = "SIGKILL nodes (abrupt crash); heal restarts them"
    OPTIONS = {"wait": Opt(bool, True, "on heal, wait until restarted nodes serve again")}
    ROLES = TARGET_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        self.killed: list[str] = []

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = self._targets(cluster, rng)
        for node in nodes:
            self.killed.append(node.name)
            cluster.kill(node.name, "SIGKILL")
        return {"killed": [n.name for n in nodes]}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        done = bring_back(cluster, self.killed, wait=self.options["wait"])
        self.killed = []
        return {"restarted": done}

    def describe(self) -> str:
        return f"kill -9 {self.target}, restart on heal"
