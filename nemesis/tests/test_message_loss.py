"""The message-loss fault offline: which queues it watches and purges, and the whole cut-off / purge /
restart sequence against a fake cluster whose broker answers rabbitmqctl like RabbitMQ does."""
from __future__ import annotations

import json
import random
import re
from types import SimpleNamespace

import pytest

from cluster.errors import LabError
from nemesis import make_fault, message_loss
from nemesis.message_loss import consumed, queue_pattern, waiting
from nemesis.tests.fakes import FakeNode

NAMES = ["mistral_executor", "mistral_executor.executor-1", "mistral_executor.executor-2",
         "mistral_executor_fanout_ab12", "mistral_engine", "mistral_engine.engine-1", "reply_1234"]


def test_queue_pattern_selects_every_queue_of_a_role() -> None:
    executor = re.compile(queue_pattern("executor"))
    assert [n for n in NAMES if executor.search(n)] == NAMES[:4]
    engine = re.compile(queue_pattern("engine"))
    assert [n for n in NAMES if engine.search(n)] == ["mistral_engine", "mistral_engine.engine-1"]


def test_consumed_and_waiting_look_only_at_the_roles_queues() -> None:
    listing = [{"name": "mistral_executor", "messages_ready": 3, "consumers": 0},
               {"name": "mistral_executor.executor-1", "messages_ready": 0, "consumers": 1},
               {"name": "mistral_engine", "messages_ready": 5, "consumers": 2}]
    pattern = queue_pattern("executor")
    assert consumed(listing, pattern) == {"mistral_executor.executor-1": 1}
    assert waiting(listing, pattern) == {"mistral_executor": 3}
    assert consumed(listing[:1], pattern) == {} and waiting(listing[1:], pattern) == {}


@pytest.mark.parametrize("options, target, message", [
    ({}, "executor-1", "takes one role"),
    ({}, "engine,executor", "takes one role"),
    ({}, "api", "not allowed here"),
    ({"mode": "purge"}, "executor", "unknown option 'mode'"),
    ({"mode": "ttl", "ttl_ms": "0"}, "executor", "unknown option"),
])
def test_only_a_role_with_no_mode_is_accepted(options: dict, target: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        make_fault("message-loss", options, target)


def test_describe_says_what_is_killed_purged_and_restarted() -> None:
    assert make_fault("message-loss", {}, "executor").describe() == (
        "message-loss: kill every node of executor, purge the RPC messages waiting for it on heal, then restart "
        "the nodes")
    assert "every node of a random role" in make_fault("message-loss").describe()


# ------------------------------------------------------------------ against a fake cluster
class FakeBroker:
    """Queues with ready messages and consumers; a consumer goes when its node is killed, after `lag` polls."""

    def __init__(self, cluster: "FakeCluster", ready: dict[str, int], lag: int = 1) -> None:
        self.cluster, self.ready, self.lag = cluster, dict(ready), lag
        self.purges: list[str] = []
        self.calls = 0

    def exec_run(self, argv: list[str], environment: dict | None = None) -> SimpleNamespace:
        assert argv[0] == "rabbitmqctl" and environment == {"RABBITMQ_NODENAME": "rabbit@localhost"}
        self.calls += 1
        if argv[1] == "list_queues":
            listing = []
            for role, topic in (("executor", "mistral_executor"), ("engine", "mistral_engine")):
                alive = [n for n in self.cluster.nodes(role) if n.running or self.calls <= self.lag]
                listing.append({"name": topic, "messages": self.ready.get(topic, 0),
                                "messages_ready": self.ready.get(topic, 0), "messages_unacknowledged": 0,
                                "consumers": len(alive)})
                listing += [{"name": f"{topic}.{n.name}", "messages": 0, "messages_ready": 0,
                             "messages_unacknowledged": 0, "consumers": int(n in alive)}
                            for n in self.cluster.nodes(role)]
            return SimpleNamespace(exit_code=0, output=json.dumps(listing).encode())
        if argv[1] == "purge_queue":
            self.purges.append(argv[2])
            self.ready[argv[2]] = 0
            return SimpleNamespace(exit_code=0, output=b"Purging queue\n")
        return SimpleNamespace(exit_code=2, output=b"Error: unknown command\n")


class FakeCluster:
    name = "fake"

    def __init__(self, ready: dict[str, int] | None = None) -> None:
        self._nodes = [FakeNode("api-1", "api"), FakeNode("engine-1", "engine"), FakeNode("engine-2", "engine"),
                       FakeNode("executor-1", "executor"), FakeNode("executor-2", "executor"),
                       FakeNode("broker", "broker"), FakeNode("db", "db")]
        self.broker = FakeBroker(self, ready or {})
        self.log: list[tuple[str, str]] = []

    def nodes(self, role: str | None = None) -> list[FakeNode]:
        return [n for n in self._nodes if role is None or n.role == role]

    def node(self, name: str) -> FakeNode:
        return next(n for n in self._nodes if n.name == name)

    def container(self, name: str) -> FakeBroker:
        assert name == "broker"
        return self.broker

    def kill(self, name: str, signal: str = "SIGKILL") -> None:
        self.log.append(("kill", name))
        self.node(name).state = "exited"

    def start(self, name: str) -> None:
        self.log.append(("start", name))
        self.node(name).state = "running"

    def wait_ready(self, nodes=None, timeout=0.0, report=None) -> None:
        self.log.append(("wait_ready", ",".join(nodes or [])))


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch) -> None:
    monkeypatch.setattr(message_loss, "POLL_S", 0.0)


def test_start_cuts_the_role_off_and_heal_purges_what_waited_then_restarts_it() -> None:
    cluster = FakeCluster()
    fault = make_fault("message-loss", {}, "executor")
    done = fault.start(cluster, random.Random(1))
    assert done["role"] == "executor" and done["killed"] == ["executor-1", "executor-2"]
    assert done["effect_at_heal"] == "purged" and done["queues"] == queue_pattern("executor")
    assert cluster.broker.calls == 2  # polled until no executor queue had a consumer
    cluster.broker.ready.update({"mistral_executor": 4, "mistral_engine": 2})  # sent while they were away
    healed = fault.heal(cluster)
    assert healed == {"purged": {"mistral_executor": 4}, "lost_messages": 4,
                      "restarted": {"executor-1": "started", "executor-2": "started"}}
    assert cluster.broker.purges == ["mistral_executor"]  # never another role's queue
    assert cluster.log[-3:] == [("start", "executor-1"), ("start", "executor-2"),
                                ("wait_ready", "executor-1,executor-2")]
    assert fault.heal(cluster) == {"restarted": {}}  # idempotent: nothing purged or started twice


def test_nothing_waiting_means_an_empty_purge_the_gate_reads_as_touched_nothing() -> None:
    cluster = FakeCluster()
    fault = make_fault("message-loss", {"wait": "false"}, "random:engine")
    assert fault.start(cluster, random.Random(2))["killed"] == ["engine-1", "engine-2"]
    healed = fault.heal(cluster)
    assert healed["purged"] == {} and healed["lost_messages"] == 0 and cluster.broker.purges == []
    assert ("wait_ready", "engine-1,engine-2") not in cluster.log


def test_random_picks_a_role_and_cuts_off_all_of_it() -> None:
    cluster = FakeCluster()
    done = make_fault("message-loss").start(cluster, random.Random(3))
    assert done["role"] in ("engine", "executor")
    assert done["killed"] == [n.name for n in cluster.nodes(done["role"])]


def test_a_role_that_keeps_a_consumer_fails_the_start_and_heal_restarts_without_purging(monkeypatch) -> None:
    monkeypatch.setattr(message_loss, "CUT_OFF_TIMEOUT_S", 0.0)
    cluster = FakeCluster({"mistral_executor": 1})
    cluster.broker.lag = 10**6  # the broker never notices the killed consumers
    fault = make_fault("message-loss", {}, "executor")
    with pytest.raises(LabError, match="queues still consumed .* mistral_executor \\(2\\)"):
        fault.start(cluster, random.Random(4))
    assert fault.heal(cluster) == {"restarted": {"executor-1": "started", "executor-2": "started"}}
    assert cluster.broker.purges == []


def test_a_role_with_a_stopped_node_is_refused_before_anything_is_killed() -> None:
    cluster = FakeCluster()
    cluster.node("executor-2").state = "exited"
    with pytest.raises(LabError, match="executor-2 is not running"):
        make_fault("message-loss", {}, "executor").start(cluster, random.Random(5))
    assert cluster.log == []


def test_a_broker_that_cannot_purge_still_gets_the_nodes_back() -> None:
    cluster = FakeCluster()
    fault = make_fault("message-loss", {"wait": "false"}, "executor")
    fault.start(cluster, random.Random(6))

    def broken(argv, environment=None):
        raise RuntimeError("container is paused")

    cluster.broker.exec_run = broken
    healed = fault.heal(cluster)
    assert healed["purged"] == {} and "broker cannot run commands" in healed["error"]
    assert healed["restarted"] == {"executor-1": "started", "executor-2": "started"}
