"""host-partition and host-drain offline: the host they pick, what they report as touched, the heal, the
refusals (manager, compose labs, targets on two hosts) before anything changes, and how the promise judges them."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from checker.promise import FaultWindow, judge
from cluster.backends.base import ContainerOps
from cluster.backends.swarm.hosts import HostRef, choose_host
from cluster.errors import LabError
from nemesis import make_fault
from nemesis.tests.fakes import FakeNode

MANAGER = HostRef("m1", "lab", "10.0.0.1", True, "")
WORKER = HostRef("w2", "h2", "10.0.0.2", False, "tcp://10.0.0.2:2375")
WORKER3 = HostRef("w3", "h3", "10.0.0.3", False, "tcp://10.0.0.3:2375", "stop-h3", "start-h3")


@dataclass
class FakeSwarm:
    placed: dict[str, str]                      # lab node -> swarm node id
    calls: list[str] = field(default_factory=list)
    cut: set[str] = field(default_factory=set)

    def host_of(self, node: str, fault: str) -> HostRef:
        return choose_host([MANAGER, WORKER, WORKER3], self.placed.get(node, ""), node, fault)

    def nodes_on(self, host: HostRef) -> list[str]:
        return sorted(n for n, h in self.placed.items() if h == host.node_id)

    def cut_host(self, host: HostRef) -> list[str]:
        self.calls.append(f"cut {host.hostname}")
        self.cut.add(host.node_id)
        return ["10.0.0.1", "10.0.0.3"]

    def restore_host(self, host: HostRef) -> int:
        self.calls.append(f"restore {host.hostname}")
        return 2 if self.cut.discard(host.node_id) is None else 0

    def set_availability(self, host: HostRef, availability: str) -> None:
        self.calls.append(f"{availability} {host.hostname}")

    def run_engine_command(self, host: HostRef, which: str) -> None:
        self.calls.append(f"engine-{which} {host.hostname}")

    def wait_engine(self, host: HostRef) -> None:
        self.calls.append(f"wait {host.hostname}")


class FakeCluster:
    name = "fake"

    def __init__(self, backend) -> None:
        self.backend = backend
        self.started: list[str] = []
        self.waited: list[list[str]] = []
        self._nodes = [FakeNode("api-1", "api"), FakeNode("engine-1", "engine"), FakeNode("executor-1", "executor"),
                       FakeNode("executor-2", "executor"), FakeNode("broker", "broker"), FakeNode("db", "db")]

    def nodes(self, role: str | None = None, include_jobs: bool = False):
        return [n for n in self._nodes if role is None or n.role == role]

    def node(self, name: str):
        return next(n for n in self._nodes if n.name == name)

    def start(self, node: str) -> None:
        self.started.append(node)

    def wait_ready(self, nodes=None, **_) -> None:
        self.waited.append(list(nodes or []))


PLACED = {"api-1": "m1", "engine-1": "m1", "executor-1": "w2", "executor-2": "w3"}


def test_partition_cuts_the_host_of_the_target_and_reports_its_nodes() -> None:
    backend = FakeSwarm(dict(PLACED, **{"engine-2": "w2"}))
    cluster = FakeCluster(backend)
    fault = make_fault("host-partition", {}, "executor-1")
    done = fault.start(cluster, random.Random(1))
    assert done == {"host": "h2", "address": "10.0.0.2", "peers": ["10.0.0.1", "10.0.0.3"],
                    "nodes": ["engine-2", "executor-1"]}
    healed = fault.heal(cluster)
    assert healed == {"host": "h2", "restored": 2}
    assert backend.calls == ["cut h2", "restore h2"] and cluster.waited == [["engine-2", "executor-1"]]
    assert fault.heal(cluster) == {"restored": 0}  # idempotent


def test_drain_reactivates_and_restarts_every_node_that_ran_there() -> None:
    backend = FakeSwarm(dict(PLACED))
    cluster = FakeCluster(backend)
    fault = make_fault("host-drain", {}, "executor-2")
    assert fault.start(cluster, random.Random(1))["nodes"] == ["executor-2"]
    cluster.node("executor-2").state = "exited"  # swarm shut the drained task down
    assert fault.heal(cluster) == {"host": "h3", "restarted": {"executor-2": "started"}}
    assert backend.calls == ["drain h3", "active h3"] and cluster.started == ["executor-2"]


def test_engine_stop_runs_the_hosts_commands_and_restarts_the_nodes() -> None:
    backend = FakeSwarm(dict(PLACED))
    cluster = FakeCluster(backend)
    fault = make_fault("host-engine-stop", {}, "executor-2")
    assert fault.start(cluster, random.Random(1)) == {"host": "h3", "address": "10.0.0.3", "nodes": ["executor-2"]}
    cluster.node("executor-2").state = "exited"  # its engine stopped it
    assert fault.heal(cluster) == {"host": "h3", "restarted": {"executor-2": "started"}}
    assert backend.calls == ["engine-stop h3", "engine-start h3", "wait h3"] and cluster.started == ["executor-2"]


def test_engine_stop_needs_the_hosts_file_commands() -> None:
    backend = FakeSwarm(dict(PLACED))
    with pytest.raises(LabError, match="h2 .10.0.0.2. has no engine-stop / engine-start command"):
        make_fault("host-engine-stop", {}, "executor-1").start(FakeCluster(backend), random.Random(1))
    assert backend.calls == []


def test_the_manager_is_refused_before_anything_changes() -> None:
    backend = FakeSwarm(dict(PLACED))
    with pytest.raises(LabError, match="runs on the manager"):
        make_fault("host-drain", {}, "engine-1").start(FakeCluster(backend), random.Random(1))
    assert backend.calls == []


def test_targets_on_two_hosts_are_refused() -> None:
    backend = FakeSwarm(dict(PLACED))
    with pytest.raises(LabError, match="runs on 2 hosts"):
        make_fault("host-partition", {}, "executor").start(FakeCluster(backend), random.Random(1))
    assert backend.calls == []


def test_a_compose_lab_has_no_hosts_to_fault() -> None:
    cluster = FakeCluster(ContainerOps())
    with pytest.raises(LabError, match="host-partition: node-level faults need a swarm lab"):
        make_fault("host-partition", {}, "executor-1").start(cluster, random.Random(1))


@pytest.mark.parametrize("fault, seconds, inside", [("host-partition", 5.0, True), ("host-partition", 60.0, False),
                                                    ("host-drain", 60.0, True), ("host-engine-stop", 60.0, True)])
def test_the_promise_judges_a_host_fault_as_its_per_node_equivalent(fault: str, seconds: float,
                                                                     inside: bool) -> None:
    # A cut host is a partition of its nodes (inside `designed` while shorter than the heartbeat window); a
    # drained host a graceful stop of its nodes (their actions must complete).
    window = FaultWindow(1, fault, "executor-1", {}, 100.0, 100.0 + seconds, ["executor-1"])
    judge(window, {"api": 1, "engine": 1, "executor": 2}, {}, 20.0)
    assert window.inside["designed"] is inside and window.inside["spec"] is True
