"""cluster.broker_queues: named queues over AMQP from the witness, rabbitmqctl when that cannot answer."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from cluster import broker_queues


@dataclass
class FakeContainer:
    exit_code: int
    output: bytes
    calls: list[tuple[list[str], dict]] = field(default_factory=list)

    def exec_run(self, cmd: list[str], environment: dict | None = None) -> SimpleNamespace:
        self.calls.append((cmd, environment or {}))
        return SimpleNamespace(exit_code=self.exit_code, output=self.output)


class FakeCluster:
    def __init__(self, state_dir: Path, witness: FakeContainer, broker: FakeContainer):
        self.state_dir = state_dir
        self.containers = {"witness": witness, "broker": broker}
        (state_dir / "secrets.json").write_text(json.dumps({"broker_password": "s3cret", "db_password": "x"}))

    def container(self, name: str) -> FakeContainer:
        return self.containers[name]


RABBITMQCTL = json.dumps([{"name": "mistral_executor.executor-1", "consumers": 1},
                          {"name": "mistral_engine", "consumers": 2}]).encode()


def test_named_queues_are_asked_over_amqp_with_the_broker_password(tmp_path):
    witness = FakeContainer(0, json.dumps({"mistral_engine.engine-1": 1, "mistral_executor.executor-1": 0}).encode())
    broker = FakeContainer(0, RABBITMQCTL)
    cluster = FakeCluster(tmp_path, witness, broker)
    got = broker_queues.consumers(cluster, ["mistral_engine.engine-1", "mistral_executor.executor-1"])
    assert got == {"mistral_engine.engine-1": 1, "mistral_executor.executor-1": 0}
    cmd, env = witness.calls[0]
    assert cmd[-3:] == [broker_queues.QUEUE_SCRIPT, "mistral_engine.engine-1", "mistral_executor.executor-1"]
    assert env == {"BROKER_PASSWORD": "s3cret"}
    assert broker.calls == [], "rabbitmqctl is not asked when AMQP answered"


def test_a_witness_that_cannot_reach_the_broker_falls_back_to_rabbitmqctl(tmp_path):
    witness = FakeContainer(1, b"cannot ask the broker: timeout")
    broker = FakeContainer(0, RABBITMQCTL)
    got = broker_queues.consumers(FakeCluster(tmp_path, witness, broker), ["mistral_executor.executor-1"])
    assert got == {"mistral_executor.executor-1": 1, "mistral_engine": 2}
    assert broker.calls[0][0][:2] == ["rabbitmqctl", "list_queues"]


def test_every_queue_goes_to_rabbitmqctl(tmp_path):
    witness = FakeContainer(0, b"{}")
    broker = FakeContainer(0, RABBITMQCTL)
    assert broker_queues.consumers(FakeCluster(tmp_path, witness, broker)) == {
        "mistral_executor.executor-1": 1, "mistral_engine": 2}
    assert witness.calls == []


def test_a_broker_that_answers_nothing_gives_no_consumers(tmp_path):
    witness = FakeContainer(0, b"not json")
    broker = FakeContainer(2, b"Error: unable to perform an operation on node")
    assert broker_queues.consumers(FakeCluster(tmp_path, witness, broker), ["mistral_engine.engine-1"]) == {}


# ---------------------------------------------------------------- readiness under oslo.messaging and under kombu
def _nodes(*spec: tuple[str, str, str]) -> list:
    from cluster.backends.base import Node

    return [Node(name, role, f"lab-{name}", state) for name, role, state in spec]


TOPICS = {"engine": "mistral_engine", "executor": "mistral_executor"}
NODES = _nodes(("api-1", "api", "running"), ("engine-1", "engine", "running"), ("engine-2", "engine", "running"),
               ("executor-1", "executor", "running"), ("executor-2", "executor", "exited"))


def test_oslo_readiness_reads_each_node_s_own_queue() -> None:
    from cluster.broker_queues import rpc_queues, rpc_serving

    assert rpc_queues(NODES, TOPICS, kombu=False) == [
        "mistral_engine.engine-1", "mistral_engine.engine-2", "mistral_executor.executor-1",
        "mistral_executor.executor-2"]
    consumers = {"mistral_engine.engine-1": 1, "mistral_engine.engine-2": 0, "mistral_executor.executor-1": 2}
    assert rpc_serving(NODES, TOPICS, consumers, kombu=False) == {
        "engine-1": True, "engine-2": False, "executor-1": True}


def test_kombu_readiness_needs_as_many_consumers_on_the_shared_queue_as_running_nodes() -> None:
    from cluster.broker_queues import rpc_queues, rpc_serving

    assert rpc_queues(NODES, TOPICS, kombu=True) == ["mistral_engine", "mistral_executor"]
    one_engine = {"mistral_engine": 1, "mistral_executor": 1}  # executor-2 is down: one executor is all
    assert rpc_serving(NODES, TOPICS, one_engine, kombu=True) == {
        "engine-1": False, "engine-2": False, "executor-1": True}
    assert rpc_serving(NODES, TOPICS, {"mistral_engine": 2}, kombu=True) == {
        "engine-1": True, "engine-2": True, "executor-1": False}
