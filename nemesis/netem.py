"""Degraded links: packet loss (iptables statistic match), bandwidth limits (tbf) and, where the kernel has
sch_netem, latency, duplication and reordering.

Qdiscs the lab adds sit at the root of eth0 with handle 4c4b: so heal can tell them from anything else. Where
htb exists, the root is an htb with an unshaped class for traffic to the witness and the shaping qdisc (tbf or
netem) under the default class; without htb the shaping qdisc is the root and the witness is shaped too.
Packet loss only touches traffic with other cluster nodes: clients and the witness keep a clean link.
"""
from __future__ import annotations

import random
from typing import Any, TYPE_CHECKING

from cluster.errors import LabError
from nemesis import netfilter
from nemesis.base import TARGET_ROLES, Fault, Opt, exec_script, register
from nemesis.nodes import state_of
from nemesis.partition import LinkCutter, partition_nodes

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

DEV = "eth0"
ROOT = "4c4b"
NETEM_MISSING = ("this kernel has no sch_netem: latency, duplication and reordering cannot be injected here "
                 "(packet-loss uses iptables and bandwidth uses tbf, which work)")
RATE_RE = r"\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps)"
SIZE_RE = r"\d+(kbit|mbit|bit|kb|mb|b|k|m)?"


def shaping_script(leaf: str, witness_ip: str) -> str:
    """Install `leaf` (e.g. `tbf rate 1mbit ...`) as the shaping qdisc, exempting the witness when htb exists."""
    return "\n".join([
        "set -e",
        f"tc qdisc del dev {DEV} root 2>/dev/null || true",
        f"if tc qdisc add dev {DEV} root handle {ROOT}: htb default 2 2>/dev/null; then",
        f"  tc class add dev {DEV} parent {ROOT}: classid {ROOT}:1 htb rate 10gbit quantum 60000",
        f"  tc class add dev {DEV} parent {ROOT}: classid {ROOT}:2 htb rate 10gbit quantum 60000",
        f"  tc filter add dev {DEV} parent {ROOT}: protocol ip prio 1 u32 match ip dst {witness_ip}/32 "
        f"flowid {ROOT}:1",
        f"  if ! out=$(tc qdisc add dev {DEV} parent {ROOT}:2 handle 4c4c: {leaf} 2>&1); then",
        f"    tc qdisc del dev {DEV} root; echo \"$out\" >&2; exit 3",
        "  fi",
        "  echo witness-exempt",
        "else",
        f"  tc qdisc add dev {DEV} root handle {ROOT}: {leaf}",
        "  echo witness-shaped",
        "fi",
    ]) + "\n"


def clear_qdisc_script() -> str:
    """Remove the lab's root qdisc if present; prints `qdisc <kind>` when it removed one."""
    return (f"kind=$(tc qdisc show dev {DEV} 2>/dev/null | sed -n 's/^qdisc \\([a-z_]*\\) {ROOT}: root.*/\\1/p')\n"
            f"if [ -n \"$kind\" ]; then tc qdisc del dev {DEV} root && echo \"qdisc $kind\"; fi\ntrue\n")


def list_qdisc_script() -> str:
    """Prints `qdisc <kind>` when the lab's root qdisc is present."""
    return (f"tc qdisc show dev {DEV} 2>/dev/null | sed -n 's/^qdisc \\([a-z_]*\\) {ROOT}: root.*/qdisc \\1/p'\n")


def tbf_leaf(rate: str, burst: str, latency_ms: int) -> str:
    return f"tbf rate {rate} burst {burst} latency {latency_ms}ms"


def netem_leaf(delay_ms: int, jitter_ms: int, duplicate_pct: float, reorder_pct: float) -> str:
    parts = ["netem"]
    if delay_ms or jitter_ms:
        parts.append(f"delay {delay_ms}ms" + (f" {jitter_ms}ms" if jitter_ms else ""))
    if duplicate_pct:
        parts.append(f"duplicate {duplicate_pct:g}%")
    if reorder_pct:
        parts.append(f"reorder {reorder_pct:g}%")
    return " ".join(parts)


def netem_available(cluster: Cluster, node: str) -> bool:
    """Try a netem qdisc on the node's loopback (removed at once): the only reliable test for sch_netem."""
    script = ("if tc qdisc add dev lo root handle 4c4d: netem delay 0ms 2>/dev/null; then "
              "tc qdisc del dev lo root; echo yes; else echo no; fi")
    return exec_script(cluster, node, script).strip() == "yes"


class _Shaping(Fault):
    """Common part of bandwidth and netem: a shaping qdisc on each target's eth0."""

    ROLES = TARGET_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        self.shaped: list[str] = []

    def leaf(self) -> str:
        raise NotImplementedError

    def check(self, cluster: Cluster, node: str) -> None:
        """Raise LabError before anything changes when the target cannot take this qdisc."""

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = [n.name for n in self._targets(cluster, rng)]
        self.check(cluster, nodes[0])
        witness_ip = cluster.ip("witness")
        exempt = {}
        for node in nodes:
            self.shaped.append(node)
            lines = exec_script(cluster, node, shaping_script(self.leaf(), witness_ip)).split()
            exempt[node] = lines[-1] if lines else "unknown"
        return {"nodes": nodes, "qdisc": self.leaf(), "witness": exempt}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        removed = []
        for node in self.shaped:
            if state_of(cluster, node) == "running" and exec_script(cluster, node, clear_qdisc_script()).strip():
                removed.append(node)
        self.shaped = []
        return {"removed_qdisc": removed}


@register
class Bandwidth(_Shaping):
    name = "bandwidth"
    summary = "limit a node's outgoing bandwidth with tbf; heal removes the qdisc"
    OPTIONS = {
        "rate": Opt(str, "1mbit", "tbf rate, e.g. 256kbit, 1mbit", pattern=RATE_RE),
        "burst": Opt(str, "32kbit", "tbf burst", pattern=SIZE_RE),
        "latency_ms": Opt(int, 400, "tbf latency (queueing before drops)", low=1, high=60_000),
    }

    def leaf(self) -> str:
        return tbf_leaf(self.options["rate"], self.options["burst"], self.options["latency_ms"])

    def describe(self) -> str:
        return f"bandwidth: {self.options['rate']} out of {self.target}, unlimited on heal"


@register
class Netem(_Shaping):
    name = "netem"
    summary = "latency, duplication, reordering via netem (only where the kernel has sch_netem)"
    OPTIONS = {
        "delay_ms": Opt(int, 100, "added latency", low=0, high=60_000),
        "jitter_ms": Opt(int, 0, "latency jitter", low=0, high=60_000),
        "duplicate_pct": Opt(float, 0.0, "duplicated packets, percent", low=0, high=100),
        "reorder_pct": Opt(float, 0.0, "reordered packets, percent (needs delay)", low=0, high=100),
    }

    def validate(self) -> None:
        super().validate()
        if self.options["reorder_pct"] and not self.options["delay_ms"]:
            raise LabError("netem: reorder_pct needs delay_ms > 0")
        if not any(self.options.values()):
            raise LabError("netem: set at least one of delay_ms, jitter_ms, duplicate_pct, reorder_pct")

    def leaf(self) -> str:
        o = self.options
        return netem_leaf(o["delay_ms"], o["jitter_ms"], o["duplicate_pct"], o["reorder_pct"])

    def check(self, cluster: Cluster, node: str) -> None:
        if not netem_available(cluster, node):
            raise LabError(NETEM_MISSING)

    def describe(self) -> str:
        return f"netem: {self.leaf()} on {self.target}"


@register
class PacketLoss(Fault):
    name = "packet-loss"
    summary = "drop a share of the packets a node exchanges with other nodes (iptables statistic)"
    OPTIONS = {"probability": Opt(float, 0.3, "share of packets dropped, each way", low=0.0, high=1.0)}
    ROLES = TARGET_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        if self.options["probability"] <= 0:
            raise LabError("packet-loss: probability must be > 0")
        self.cutter = LinkCutter()  # reused for its fault id and touched-node bookkeeping

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        nodes = [n.name for n in self._targets(cluster, rng)]
        peers = [n.name for n in partition_nodes(cluster) if n.name not in nodes]
        peer_ips = [cluster.ip(p) for p in peers]
        witness_ip = cluster.ip("witness")
        rules = netfilter.loss_rules(peer_ips, self.options["probability"])
        for node in nodes:
            self.cutter.touched.append(node)
            exec_script(cluster, node, netfilter.install_script(self.cutter.fault_id, witness_ip, rules, []))
        return {"nodes": nodes, "probability": self.options["probability"], "with": peers}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        return {"healed": self.cutter.remove(cluster)}

    def describe(self) -> str:
        return f"packet-loss: drop {self.options['probability']:.0%} of {self.target}'s packets with other nodes"
