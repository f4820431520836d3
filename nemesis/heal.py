"""Heal a whole lab whatever faults were left in it: the safety net behind every fault's own heal.

Idempotent. In order: resume paused nodes, restore scaled roles to their baseline, start the broker and the
database, then stopped or killed Mistral nodes of the topology (also the role a message-loss fault killed),
remove lab iptables chains and qdiscs in every node and in-process faults in Mistral nodes (RPC rules, clock
skew), and wait until the cluster serves again.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES
from nemesis import clock, netem, netfilter, rpc
from nemesis.base import NEVER_TARGETS, exec_script
from nemesis.scale import restore_baseline

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

Report = Callable[[str], None]
STARTABLE = ("exited", "created", "dead")
INFRA_FIRST = {"broker": 0, "db": 0}


def _noop(_: str) -> None:
    pass


def heal_cluster(cluster: Cluster, report: Report = _noop, wait: bool = True,
                 timeout: float = 300.0, restore_scale: bool = True) -> list[str]:
    """Repair everything the nemesis may have left; returns one line per thing repaired. `restore_scale=False`
    leaves scaled roles to the caller (a reset restores them without waiting for each new node)."""
    if not cluster.exists():
        raise LabError(f"no lab named {cluster.name!r} is running")
    repaired: list[str] = []
    repaired += _resume_paused(cluster, report)
    if restore_scale:
        repaired += _restore_scale(cluster, report)
    repaired += _start_stopped(cluster, report)
    repaired += _clear_network(cluster, report)
    repaired += _clear_in_process(cluster, report)
    if wait:
        report("waiting until every node serves")
        cluster.wait_ready(report, timeout=timeout)
    return repaired


def _fault_nodes(cluster: Cluster):
    return [n for n in cluster.nodes() if n.role not in NEVER_TARGETS]


def _resume_paused(cluster: Cluster, report: Report) -> list[str]:
    done = []
    for node in _fault_nodes(cluster):
        if node.state == "paused":
            report(f"resuming {node.name}")
            cluster.resume(node.name)
            done.append(f"resumed {node.name}")
    return done


def _restore_scale(cluster: Cluster, report: Report) -> list[str]:
    # Start what is stopped first: scaling waits for readiness and fails on an exited node.
    done = _start_stopped(cluster, report)
    for role, nodes in restore_baseline(cluster).items():
        report(f"restored {role} count ({', '.join(nodes)})")
        done.append(f"scaled {role}: {', '.join(nodes)}")
    return done


def _start_stopped(cluster: Cluster, report: Report) -> list[str]:
    """Start stopped nodes of the topology, broker and database first so Mistral nodes find them."""
    wanted = {name for name, _ in cluster.topology().mistral_nodes()} | set(INFRA_FIRST)
    stopped = [n for n in _fault_nodes(cluster) if n.state in STARTABLE and n.name in wanted]
    done = []
    for node in sorted(stopped, key=lambda n: INFRA_FIRST.get(n.name, 1)):
        report(f"starting {node.name}")
        cluster.start(node.name)
        done.append(f"started {node.name}")
    return done


def _clear_network(cluster: Cluster, report: Report) -> list[str]:
    return _run_clear_script(cluster, report, netfilter.clear_all_script() + netem.clear_qdisc_script())


def _clear_in_process(cluster: Cluster, report: Report) -> list[str]:
    """RPC rules and clock offsets live in files inside Mistral nodes (the processes read them)."""
    return _run_clear_script(cluster, report, rpc.clear_all_script() + clock.restore_script(), MISTRAL_ROLES)


def _run_clear_script(cluster: Cluster, report: Report, script: str,
                      roles: tuple[str, ...] | None = None) -> list[str]:
    """Run a clean-up script in every running fault target (of `roles`), all at once (a heal waits for the
    slowest node, not their sum); each line a script prints is one removal."""
    nodes = [node.name for node in _fault_nodes(cluster)
             if node.running and (roles is None or node.role in roles)]
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        outputs = list(pool.map(lambda name: exec_script(cluster, name, script), nodes))
    done = []
    for name, output in zip(nodes, outputs):
        for line in output.splitlines():
            if line.strip():
                report(f"{name}: removed {line.strip()}")
                done.append(f"{name}: removed {line.strip()}")
    return done


def leftovers(cluster: Cluster) -> list[str]:
    """What a heal would still find: lab chains, lab qdiscs, RPC rules, clock skew, paused or stopped nodes."""
    found = []
    for node in _fault_nodes(cluster):
        if node.state != "running":
            found.append(f"{node.name} is {node.state}")
            continue
        script = netfilter.list_chains_script() + netem.list_qdisc_script()
        if node.role in MISTRAL_ROLES:
            script += rpc.list_script() + clock.list_script()
        found += [f"{node.name}: {line.strip()}"
                  for line in exec_script(cluster, node.name, script).splitlines() if line.strip()]
    return found


# ------------------------------------------------------------------ signals
class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an exception so `finally` blocks heal before the process exits."""


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """While inside: SIGINT raises KeyboardInterrupt (as usual) and SIGTERM raises Interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):  # noqa: ARG001
        raise Interrupted(f"signal {signum}")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def shielded(report: Report = _noop) -> Iterator[None]:
    """While healing, a second Ctrl-C or SIGTERM must not abandon the cluster half-healed: note and ignore it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):  # noqa: ARG001
        report("healing in progress: wait, the lab exits once the cluster is healed")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
