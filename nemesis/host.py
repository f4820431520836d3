"""Node-level faults on a swarm spread over several hosts: a whole machine departs, not one container.

`host-partition` cuts the swarm node that runs the target off from every other swarm node (every Mistral node
on it loses the broker, the database and its peers at once; the lab keeps its control channel to that host's
engine); heal lifts the cut. `host-drain` is the HA spec's "node departure": `docker node update
--availability drain` on that swarm node, so swarm stops every task there (SIGTERM, then the grace period);
heal makes the node active again and restarts the lab's services that ran on it. The target names a lab node
(`executor-2`, `random:executor`); the fault acts on the machine that runs it, and reports every lab node it
touched. The manager (database, broker, witness, the lab's control) is never a target.
"""
from __future__ import annotations

import random
from typing import Any, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES
from nemesis.base import Fault, Opt, register
from nemesis.nodes import state_of

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster
    from cluster.swarm_hosts import HostRef


class _HostFault(Fault):
    ROLES = MISTRAL_ROLES
    DEFAULT_TARGET = "random:executor"

    def validate(self) -> None:
        self.host: HostRef | None = None
        self.touched: list[str] = []

    def _host(self, cluster: Cluster, rng: random.Random) -> HostRef:
        nodes = self._targets(cluster, rng)
        hosts = {cluster.backend.host_of(node.name, self.name) for node in nodes}
        if len(hosts) != 1:
            raise LabError(f"{self.name}: target {self.target} runs on {len(hosts)} hosts; name nodes of one host")
        return hosts.pop()


@register
class HostPartition(_HostFault):
    name = "host-partition"
    summary = "cut the swarm host of the target off from every other swarm node (iptables DROP); heal lifts it"
    OPTIONS = {"wait": Opt(bool, True, "on heal, wait until the nodes on the host serve again")}

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        self.host = self._host(cluster, rng)
        self.touched = cluster.backend.nodes_on(self.host)
        peers = cluster.backend.cut_host(self.host)
        return {"host": self.host.hostname, "address": self.host.address, "peers": peers, "nodes": self.touched}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.host is None:
            return {"restored": 0}
        removed = cluster.backend.restore_host(self.host)
        if self.options["wait"] and self.touched:
            cluster.wait_ready(nodes=self.touched)
        host, self.host, self.touched = self.host, None, []
        return {"host": host.hostname, "restored": removed}

    def describe(self) -> str:
        return f"cut the host of {self.target} off from the swarm, lift on heal"


@register
class HostDrain(_HostFault):
    name = "host-drain"
    summary = "drain the swarm host of the target (swarm stops every task on it); heal reactivates and restarts"
    OPTIONS = {"wait": Opt(bool, True, "on heal, wait until the restarted nodes serve again")}

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        self.host = self._host(cluster, rng)
        self.touched = cluster.backend.nodes_on(self.host)
        cluster.backend.set_availability(self.host, "drain")
        return {"host": self.host.hostname, "address": self.host.address, "nodes": self.touched}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.host is None:
            return {"restarted": {}}
        cluster.backend.set_availability(self.host, "active")
        # Drained tasks are shut down for good (restart policy none) and their containers may be gone:
        # every node that ran there gets a new task, pinned to the same host by its placement.
        done = {}
        for node in self.touched:
            done[node] = "running" if state_of(cluster, node) == "running" else "started"
            cluster.start(node)
        if self.options["wait"] and self.touched:
            cluster.wait_ready(nodes=self.touched)
        host, self.host, self.touched = self.host, None, []
        return {"host": host.hostname, "restarted": done}

    def describe(self) -> str:
        return f"drain the host of {self.target}, reactivate on heal"


@register
class HostEngineStop(_HostFault):
    name = "host-engine-stop"
    summary = ("stop the Docker engine of the target's swarm host (the hosts file's engine-stop command); heal "
               "starts it (engine-start) and restarts the nodes that ran there")
    OPTIONS = {"wait": Opt(bool, True, "on heal, wait until the restarted nodes serve again")}

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        self.host = self._host(cluster, rng)
        if not (self.host.engine_stop and self.host.engine_start):
            raise LabError(f"{self.name}: {self.host.label} has no engine-stop / engine-start command in the "
                           "hosts file")
        self.touched = cluster.backend.nodes_on(self.host)
        cluster.backend.run_engine_command(self.host, "stop")
        return {"host": self.host.hostname, "address": self.host.address, "nodes": self.touched}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.host is None:
            return {"restarted": {}}
        cluster.backend.run_engine_command(self.host, "start")
        cluster.backend.wait_engine(self.host)
        # The engine stopped its containers on the way down (SIGTERM, then its shutdown timeout); their
        # tasks never run again (restart policy none): each node gets a new task on the same host.
        done = {}
        for node in self.touched:
            done[node] = "running" if state_of(cluster, node) == "running" else "started"
            cluster.start(node)
        if self.options["wait"] and self.touched:
            cluster.wait_ready(nodes=self.touched)
        host, self.host, self.touched = self.host, None, []
        return {"host": host.hostname, "restarted": done}

    def describe(self) -> str:
        return f"stop the Docker engine of the host of {self.target}, start it on heal"
