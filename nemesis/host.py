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

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.backends.swarm.hosts import HostRef
    from cluster.control import Cluster


class _HostFault(Fault):
    ROLES = MISTRAL_ROLES
    DEFAULT_TARGET = "random:executor"
    OPTIONS = {"wait": Opt(bool, True, "on heal, wait until the nodes on the host serve again")}

    def validate(self) -> None:
        self.host: HostRef | None = None
        self.touched: list[str] = []

    def _begin(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        """Resolve the host and the lab nodes on it (nothing changed yet); the start result's common part."""
        nodes = self._targets(cluster, rng)
        hosts = {cluster.backend.host_of(node.name, self.name) for node in nodes}
        if len(hosts) != 1:
            raise LabError(f"{self.name}: target {self.target} runs on {len(hosts)} hosts; name nodes of one host")
        self.host = hosts.pop()
        self.touched = cluster.backend.nodes_on(self.host)
        return {"host": self.host.hostname, "address": self.host.address, "nodes": self.touched}

    def _end(self, cluster: Cluster, restart: bool) -> dict[str, Any]:
        """Wait until the host's nodes serve again; first give each a new task when its old one is gone for
        good (a drained or engine-stopped task never runs again under restart policy none; placement pins
        the new one to the same host)."""
        assert self.host is not None
        done = {}
        if restart:
            for node in self.touched:  # start() leaves a task swarm still wants running alone
                cluster.start(node)
                done[node] = "started"
        if self.options["wait"] and self.touched:
            cluster.wait_ready(nodes=self.touched)
        host, self.host, self.touched = self.host, None, []
        return {"host": host.hostname, **({"restarted": done} if restart else {})}


@register
class HostPartition(_HostFault):
    name = "host-partition"
    summary = "cut the swarm host of the target off from every other swarm node (iptables DROP); heal lifts it"

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        done = self._begin(cluster, rng)
        return {**done, "peers": cluster.backend.cut_host(self.host)}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.host is None:
            return {"restored": 0}
        removed = cluster.backend.restore_host(self.host)
        return {**self._end(cluster, restart=False), "restored": removed}

    def describe(self) -> str:
        return f"cut the host of {self.target} off from the swarm, lift on heal"


@register
class HostDrain(_HostFault):
    name = "host-drain"
    summary = "drain the swarm host of the target (swarm stops every task on it); heal reactivates and restarts"

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        done = self._begin(cluster, rng)
        cluster.backend.set_availability(self.host, "drain")
        return done

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.host is None:
            return {"restarted": {}}
        cluster.backend.set_availability(self.host, "active")
        return self._end(cluster, restart=True)

    def describe(self) -> str:
        return f"drain the host of {self.target}, reactivate on heal"


@register
class HostEngineStop(_HostFault):
    name = "host-engine-stop"
    summary = ("stop the Docker engine of the target's swarm host (the hosts file's engine-stop command); heal "
               "starts it (engine-start) and restarts the nodes that ran there")

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        done = self._begin(cluster, rng)
        if not (self.host.engine_stop and self.host.engine_start):
            label, self.host, self.touched = self.host.label, None, []
            raise LabError(f"{self.name}: {label} has no engine-stop / engine-start command in the hosts file")
        cluster.backend.run_engine_command(self.host, "stop")  # its containers stop with it
        return done

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.host is None:
            return {"restarted": {}}
        cluster.backend.run_engine_command(self.host, "start")
        cluster.backend.wait_engine(self.host)
        return self._end(cluster, restart=True)

    def describe(self) -> str:
        return f"stop the Docker engine of the host of {self.target}, start it on heal"
