"""Graceful stop (SIGTERM, then SIGKILL after a grace period); heal starts the nodes again."""
from __future__ import annotations

import random
from typing import Any, TYPE_CHECKING

from nemesis.base import TARGET_ROLES, Fault, Opt, register
from nemesis.nodes import bring_back

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster


@register
class Stop(Fault):
    name = "stop"
    summary = "graceful stop (SIGTERM); heal starts the nodes again"
    OPTIONS = {
        "grace": Opt(int, 30, "seconds between SIGTERM and SIGKILL", low=0, high=600),
        "wait": Opt(bool, True, "on heal, wait until restarted nodes serve again"),
    }
    ROLES = TARGET_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        self.stopped: list[str] = []

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = self._targets(cluster, rng)
        exit_codes = {}
        for node in nodes:
            self.stopped.append(node.name)
            cluster.stop(node.name, timeout=self.options["grace"])
            exit_codes[node.name] = cluster.container(node.name).attrs["State"]["ExitCode"]
        return {"stopped": [n.name for n in nodes], "exit_codes": exit_codes}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        done = bring_back(cluster, self.stopped, wait=self.options["wait"])
        self.stopped = []
        return {"restarted": done}

    def describe(self) -> str:
        return f"stop (SIGTERM) {self.target}, start on heal"
