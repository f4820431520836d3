"""The swarm backend on a single-node swarm of this engine: the shared integration core through the CLI.

up 2/2/2 as a stack, status with the swarm node of each task, a workflow through every API node, a kill and a
pause of an executor with `mistral-lab nemesis`, live scaling, and a down that leaves no service, network,
config, secret or volume of the stack and the engine's swarm state as it was found. One lab for the whole
module: a swarm up costs minutes on a 2-core machine.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import SHARED_OVERRIDES, unique_lab_name
from lab.cli import _register_commands, app
from lab.smoke import run_through_every_api

pytestmark = pytest.mark.docker
runner = CliRunner()
_register_commands()
STACK_LABEL = "com.docker.stack.namespace"


def _engine_state() -> tuple[str, set[str]]:
    from cluster.docker_env import engine

    client = engine()
    return (client.info()["Swarm"]["LocalNodeState"],
            {n.name for n in client.networks.list() if n.name in ("docker_gwbridge", "ingress")})


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.stdout


@pytest.fixture(scope="module")
def swarm_lab(docker_ready):
    from cluster.control import Cluster

    before = _engine_state()
    name = unique_lab_name("swarmtest")
    sets = [item for override in SHARED_OVERRIDES for item in ("--set", override)]
    try:
        _cli("up", "--backend", "swarm", "--name", name, "--apis", "2", "--engines", "2", "--executors", "2",
             "--timeout", "600", *sets)
        yield Cluster(name), before
    finally:
        runner.invoke(app, ["down", "--name", name])


def test_status_shows_healthy_nodes_and_their_swarm_node(swarm_lab) -> None:
    cluster, _ = swarm_lab
    document = json.loads(_cli("status", "--name", cluster.name, "--json"))
    assert document["backend"] == "swarm"
    roles = [node["role"] for node in document["nodes"]]
    assert roles.count("api") == 2 and roles.count("engine") == 2 and roles.count("executor") == 2
    assert all(node["healthy"] and node["state"] == "running" and node["host"] for node in document["nodes"])
    assert all(node["url"].startswith("http://127.0.0.1:") for node in document["nodes"] if node["role"] == "api")
    queues = cluster.rpc_consumers()
    assert queues.get("mistral_executor.executor-2", 0) >= 1  # node identity survives the stack
    from cluster import broker_queues  # the ready poll's AMQP way works in a stack too (its script is a config)

    assert broker_queues.amqp_consumers(cluster, ["mistral_executor.executor-2"]) == {
        "mistral_executor.executor-2": queues["mistral_executor.executor-2"]}


def test_workflow_succeeds_through_each_api_node(swarm_lab) -> None:
    cluster, _ = swarm_lab
    assert run_through_every_api(cluster) == {"api-1": "SUCCESS", "api-2": "SUCCESS"}


def test_kill_and_pause_an_executor_then_heal(swarm_lab) -> None:
    cluster, _ = swarm_lab
    for fault in ("kill", "pause"):
        output = _cli("nemesis", fault, "--name", cluster.name, "--target", "executor-1", "--duration", "2")
        assert "executor-1" in output
        assert cluster.node("executor-1").running
    assert cluster.health()["executor-1"]
    assert run_through_every_api(cluster) == {"api-1": "SUCCESS", "api-2": "SUCCESS"}


def test_scale_executors_up_and_down(swarm_lab) -> None:
    cluster, _ = swarm_lab
    before = {n.name: n.container for n in cluster.nodes() if n.running}
    _cli("scale", "executor", "3", "--name", cluster.name)
    assert [n.name for n in cluster.nodes("executor") if n.running] == ["executor-1", "executor-2", "executor-3"]
    after = {n.name: n.container for n in cluster.nodes() if n.name in before}
    assert after == before  # a scale-up touches no running node (a swarm task name changes when it restarts)
    _cli("scale", "executor", "2", "--name", cluster.name)
    assert [n.name for n in cluster.nodes("executor")] == ["executor-1", "executor-2"]


def test_down_leaves_nothing_and_the_engine_as_found(swarm_lab) -> None:
    from cluster.docker_env import engine

    cluster, before = swarm_lab
    _cli("down", "--name", cluster.name)
    client = engine()
    selector = {"label": f"{STACK_LABEL}={cluster.name}"}
    assert client.containers.list(all=True, filters=selector) == []
    assert client.volumes.list(filters=selector) == []
    assert [n for n in client.networks.list() if n.name.startswith(cluster.name)] == []
    if client.info()["Swarm"]["LocalNodeState"] == "active":  # a swarm that was here before the lab
        assert client.services.list(filters=selector) == []
        assert client.configs.list(filters=selector) == [] and client.secrets.list(filters=selector) == []
    assert _engine_state() == before
    assert not cluster.state_dir.exists()
    assert runner.invoke(app, ["down", "--name", cluster.name]).exit_code == 0  # idempotent
