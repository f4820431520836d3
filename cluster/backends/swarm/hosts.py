"""Node-level operations of the swarm backend: what a whole machine of the swarm does, not one container.

Cut a host off (iptables DROP in the host's network namespace, keeping the lab's control port) and drain a host
(`docker node update --availability drain`), each with its heal. The manager is never a target. In full:
docs/backends.md#node-level-faults-a-whole-machine-departs.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlparse

from cluster.errors import LabError

SSH_PORT = 22
DEFAULT_TCP_PORT = 2375


@dataclass(frozen=True)
class HostRef:
    """One swarm node as a fault target."""

    node_id: str
    hostname: str
    address: str         # its address in the swarm (Status.Addr): what its peers see
    manager: bool
    docker_host: str     # how the lab reaches its engine ("" for the local engine)
    engine_stop: str = ""   # hosts-file commands that stop / start its engine (run on the lab's machine)
    engine_start: str = ""

    @property
    def label(self) -> str:
        return f"{self.hostname} ({self.address})"


def chain_name(lab: str) -> str:
    """An iptables chain per lab (names are at most 28 characters)."""
    return "mlab-" + hashlib.sha256(lab.encode()).hexdigest()[:12]


def control_port(docker_host: str) -> int:
    """The port the lab reaches a host's engine on: kept open by a cut so the heal gets through."""
    parsed = urlparse(docker_host)
    if parsed.port:
        return parsed.port
    return SSH_PORT if parsed.scheme == "ssh" else DEFAULT_TCP_PORT


def cut_script(chain: str, peers: list[str], keep_port: int) -> str:
    """Shell for the host's network namespace: drop all traffic with `peers` except the lab's control port.
    Idempotent: a second cut replaces the first."""
    if not peers:
        raise LabError("no other swarm node to cut this host off from")
    lines = ["set -e",
             f"iptables -N {chain} 2>/dev/null || iptables -F {chain}",
             f"iptables -A {chain} -p tcp --dport {keep_port} -j RETURN",
             f"iptables -A {chain} -p tcp --sport {keep_port} -j RETURN"]
    for peer in peers:
        lines += [f"iptables -A {chain} -s {peer} -j DROP", f"iptables -A {chain} -d {peer} -j DROP"]
    for hook in ("INPUT", "OUTPUT"):
        lines.append(f"iptables -C {hook} -j {chain} 2>/dev/null || iptables -I {hook} -j {chain}")
    return "\n".join(lines)


def restore_script(chain: str) -> str:
    """Undo cut_script; a no-op where nothing was cut. Prints how many jumps it removed."""
    return "\n".join([
        "removed=0",
        *(f"while iptables -D {hook} -j {chain} 2>/dev/null; do removed=$((removed+1)); done"
          for hook in ("INPUT", "OUTPUT")),
        f"iptables -F {chain} 2>/dev/null || true",
        f"iptables -X {chain} 2>/dev/null || true",
        "echo removed=$removed"])


def choose_host(hosts: list[HostRef], node_id: str, node: str, fault: str) -> HostRef:
    """The swarm node running `node`, refused when it is the manager or unknown."""
    found = next((h for h in hosts if h.node_id == node_id), None)
    if found is None:
        raise LabError(f"{fault}: {node} runs on no swarm node the lab knows (is it scheduled?)")
    if found.manager:
        raise LabError(f"{fault}: {node} runs on the manager {found.label}, which holds the database, broker, "
                       "witness and the lab's control; target a node on a worker host (--hosts, --placement "
                       "spread)")
    return found


def peers_of(hosts: list[HostRef], host: HostRef) -> list[str]:
    return sorted({h.address for h in hosts if h.node_id != host.node_id and h.address})


__all__ = ["HostRef", "chain_name", "choose_host", "control_port", "cut_script", "peers_of", "restore_script"]
