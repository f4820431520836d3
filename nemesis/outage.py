"""Outage of an infrastructure node (broker or database): stop, kill, pause or isolate it, then bring it back.

Isolation cuts the node from every other node (the witness excepted) with the same rules as a partition, so
clients see connection resets rather than a vanished host.
"""
from __future__ import annotations

import random
from typing import Any, ClassVar, TYPE_CHECKING

from cluster.errors import LabError
from nemesis.base import Fault, Opt
from nemesis.nodes import RESTART_TIMEOUT, bring_back, state_of
from nemesis.partition import LinkCutter, isolate_links, partition_nodes

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

MODES = ("stop", "kill", "pause", "isolate")


class InfraOutage(Fault):
    """Base for broker.py and db.py; `node` is the infrastructure node's name."""

    node: ClassVar[str] = ""
    OPTIONS = {
        "mode": Opt(str, "stop", "stop (SIGTERM), kill (SIGKILL), pause or isolate (iptables)", choices=MODES),
        "wait": Opt(bool, True, "on heal, wait until the whole cluster serves again"),
    }

    def validate(self) -> None:
        self.cutter = LinkCutter()
        self.down = False

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        state = state_of(cluster, self.node)
        if state != "running":
            raise LabError(f"{self.name}: {self.node} is not running (state: {state}); heal it first")
        mode = self.options["mode"]
        self.down = True
        if mode == "stop":
            cluster.stop(self.node, timeout=30)
        elif mode == "kill":
            cluster.kill(self.node, "SIGKILL")
        elif mode == "pause":
            cluster.pause(self.node)
        else:
            others = [n.name for n in partition_nodes(cluster) if n.name != self.node]
            cuts = self.cutter.install(cluster, isolate_links([self.node], others))
            return {"node": self.node, "mode": mode, "cut_from": cuts.get(self.node, [])}
        return {"node": self.node, "mode": mode, "state": state_of(cluster, self.node)}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if not self.down:
            return {"node": self.node, "healed": False}
        healed = {"uncut": self.cutter.remove(cluster)}
        healed.update(bring_back(cluster, [self.node], wait=True, timeout=RESTART_TIMEOUT))
        if self.options["wait"]:
            cluster.wait_ready(timeout=RESTART_TIMEOUT)
        self.down = False
        return {"node": self.node, "healed": healed}

    def describe(self) -> str:
        return f"{self.name} outage: {self.options['mode']} {self.node}, bring it back on heal"
