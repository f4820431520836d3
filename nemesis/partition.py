"""Network partitions at the IP level: isolate nodes or roles, random halves, a majorities ring, a bridge.

A partition is a set of cut links {a, b}; each node with cut links gets iptables rules refusing traffic with
those peers (see netfilter.py). The witness is never part of a partition and every node keeps reaching it.
"""
from __future__ import annotations

import random
import uuid
from typing import Any, Iterable, TYPE_CHECKING

from cluster.errors import LabError
from nemesis import netfilter
from nemesis.base import TARGET_ROLES, Fault, Opt, check_target_syntax, exec_script, register, resolve_targets

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster, Node

TOPOLOGIES = ("isolate", "halves", "ring", "bridge")
Link = frozenset[str]


# ------------------------------------------------------------------ grudges (pure, unit-tested)
def isolate_links(side_a: Iterable[str], side_b: Iterable[str]) -> set[Link]:
    """Cut every link between side a and side b (a node on both sides keeps its own links)."""
    return {frozenset((a, b)) for a in side_a for b in side_b if a != b}


def halves_links(nodes: list[str], rng: random.Random) -> set[Link]:
    """Two random halves that cannot talk to each other."""
    shuffled = sorted(nodes)
    rng.shuffle(shuffled)
    half = len(shuffled) // 2
    return isolate_links(shuffled[:half], shuffled[half:])


def bridge_links(nodes: list[str], rng: random.Random) -> set[Link]:
    """Two halves cut from each other except through one bridge node that sees both."""
    shuffled = sorted(nodes)
    rng.shuffle(shuffled)
    middle = len(shuffled) // 2
    return isolate_links(shuffled[:middle], shuffled[middle + 1:])


def ring_links(nodes: list[str], rng: random.Random) -> set[Link]:
    """Majorities ring: nodes on a random ring each see the nodes within a radius that makes a majority,
    so every node sees a majority but no two nodes see the same one (Jepsen's majorities-ring)."""
    ring = sorted(nodes)
    rng.shuffle(ring)
    n = len(ring)
    radius = (n // 2 + 1) // 2  # 2*radius + 1 >= majority
    links = set()
    for i in range(n):
        for j in range(i + 1, n):
            if min(j - i, n - (j - i)) > radius:
                links.add(frozenset((ring[i], ring[j])))
    return links


def cuts_by_node(links: set[Link]) -> dict[str, list[str]]:
    """For each node, the peers it must refuse."""
    cuts: dict[str, set[str]] = {}
    for link in links:
        a, b = sorted(link)
        cuts.setdefault(a, set()).add(b)
        cuts.setdefault(b, set()).add(a)
    return {node: sorted(peers) for node, peers in sorted(cuts.items())}


def components_view(links: set[Link], nodes: list[str]) -> dict[str, list[str]]:
    """For the history: which nodes each node can still reach."""
    return {n: sorted(m for m in nodes if m != n and frozenset((n, m)) not in links) for n in sorted(nodes)}


# ------------------------------------------------------------------ applying links to a cluster
class LinkCutter:
    """Installs and removes one set of cut links on a cluster; remembers the nodes it touched."""

    def __init__(self) -> None:
        self.fault_id = uuid.uuid4().hex[:8]
        self.touched: list[str] = []

    def install(self, cluster: Cluster, links: set[Link]) -> dict[str, list[str]]:
        cuts = cuts_by_node(links)
        if not cuts:
            return {}
        ips = {node: cluster.ip(node) for node in cuts}
        for peers in cuts.values():
            ips.update({p: cluster.ip(p) for p in peers if p not in ips})
        witness_ip = cluster.ip("witness")
        for node, peers in cuts.items():
            peer_ips = [ips[p] for p in peers]
            self.touched.append(node)  # before the exec, so a partial install is healed too
            exec_script(cluster, node, netfilter.install_script(
                self.fault_id, witness_ip, netfilter.cut_rules(peer_ips), peer_ips))
        return cuts

    def remove(self, cluster: Cluster) -> list[str]:
        healed = []
        for node in self.touched:
            if _running(cluster, node):
                exec_script(cluster, node, netfilter.remove_script(self.fault_id))
                healed.append(node)
        self.touched = []
        return healed


def _running(cluster: Cluster, node: str) -> bool:
    try:
        return cluster.node(node).running
    except LabError:
        return False


def partition_nodes(cluster: Cluster) -> list[Node]:
    """Every node a partition may involve: running Mistral nodes, the broker and the database."""
    return [n for n in cluster.nodes() if n.role in TARGET_ROLES and n.running]


# ------------------------------------------------------------------ the fault
@register
class Partition(Fault):
    name = "partition"
    summary = "cut network links (iptables, tcp-reset): isolate nodes/roles, random halves, ring or bridge"
    OPTIONS = {
        "topology": Opt(str, "isolate", "isolate the target from `from`, or random halves/ring/bridge",
                        choices=TOPOLOGIES),
        "from": Opt(str, "others", "for isolate: what the target is cut from (roles/nodes, default all others)"),
    }
    ROLES = TARGET_ROLES
    DEFAULT_TARGET = None

    def validate(self) -> None:
        topology = self.options["topology"]
        if topology == "isolate":
            if self.target is None:
                raise LabError("partition isolate needs a --target (node, role or random)")
            if self.options["from"] != "others":
                check_target_syntax(self.options["from"], TARGET_ROLES)
        elif self.target is not None or self.options["from"] != "others":
            raise LabError(f"partition topology={topology} picks its own sides: it takes no --target or from=")
        self.cutter = LinkCutter()
        self.links: set[Link] = set()

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        names = [n.name for n in partition_nodes(cluster)]
        topology = self.options["topology"]
        if topology == "isolate":
            side_a = [n.name for n in self._targets(cluster, rng)]
            side_b = names if self.options["from"] == "others" else [
                n.name for n in resolve_targets(cluster, self.options["from"], TARGET_ROLES, rng)]
            self.links = isolate_links(side_a, [b for b in side_b if b not in side_a])
        else:
            builder = {"halves": halves_links, "ring": ring_links, "bridge": bridge_links}[topology]
            self.links = builder(names, rng)
        if not self.links:
            raise LabError(f"partition {topology}: nothing to cut among {', '.join(names)}")
        cuts = self.cutter.install(cluster, self.links)
        return {"topology": topology, "cut": cuts, "reachable": components_view(self.links, names)}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        return {"healed": self.cutter.remove(cluster)}

    def describe(self) -> str:
        topology = self.options["topology"]
        if topology == "isolate":
            return f"partition: cut {self.target} from {self.options['from']}"
        return f"partition: {topology}"
