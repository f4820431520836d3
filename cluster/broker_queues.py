"""Consumers per RabbitMQ queue: is each engine, executor and notifier consuming its RPC queue.

Named queues are asked over AMQP from the witness container (compose/witness/queue_consumers.py): the
readiness poll asks every second while Mistral boots, and `rabbitmqctl list_queues` boots an Erlang VM for
each answer (1-3 s of CPU on 2 cores, taken from the very processes it waits for). Every queue, or a broker the
witness cannot reach, goes through rabbitmqctl inside the broker, which answers whatever the network does.
"""
from __future__ import annotations

import json
from typing import Any

import docker.errors

from cluster.errors import LabError

QUEUE_SCRIPT = "/opt/witness/queue_consumers.py"  # compose/witness is mounted there


def consumers(cluster: Any, queues: list[str] | None = None) -> dict[str, int]:
    """{queue: consumers} for `queues` (every queue when None); {} when the broker cannot answer."""
    if queues:
        asked = amqp_consumers(cluster, queues)
        if asked is not None:
            return asked
    return rabbitmqctl_consumers(cluster)


def amqp_consumers(cluster: Any, queues: list[str]) -> dict[str, int] | None:
    """Passive declares from the witness; None when it cannot answer (no witness, broker unreachable)."""
    try:
        password = json.loads((cluster.state_dir / "secrets.json").read_text())["broker_password"]
        result = cluster.container("witness").exec_run(
            ["timeout", "10", "python3", QUEUE_SCRIPT, *queues], environment={"BROKER_PASSWORD": password})
        if result.exit_code != 0:
            return None
        return {str(name): int(count) for name, count in json.loads(result.output).items()}
    except (LabError, docker.errors.APIError, OSError, KeyError, ValueError, TypeError, AttributeError):
        return None


def rabbitmqctl_consumers(cluster: Any) -> dict[str, int]:
    try:
        result = cluster.container("broker").exec_run(
            ["rabbitmqctl", "list_queues", "-q", "--formatter", "json", "name", "consumers"],
            environment={"RABBITMQ_NODENAME": "rabbit@localhost"})
    except (LabError, docker.errors.APIError):
        return {}
    if result.exit_code != 0:
        return {}
    try:
        return {q["name"]: int(q["consumers"]) for q in json.loads(result.output)}
    except (ValueError, KeyError, TypeError):
        return {}


# ---------------------------------------------------------------- which queue says a node serves
def rpc_queues(nodes: list[Any], topics: dict[str, str], kombu: bool) -> list[str]:
    """oslo.messaging gives every server a queue of its own, `<topic>.<host>`; Mistral's kombu driver (before
    21.0.0) only the shared `<topic>` queue, so under kombu a role's readiness is read from that one."""
    if kombu:
        return sorted({topics[n.role] for n in nodes if n.role in topics})
    return [f"{topics[n.role]}.{n.name}" for n in nodes if n.role in topics]


def rpc_serving(nodes: list[Any], topics: dict[str, str], consumers: dict[str, int], kombu: bool) -> dict[str, bool]:
    """Each running engine, executor and notifier: does it consume its RPC queue. Under kombu one node's
    consumer cannot be told from another's on the shared queue: every running node of a role counts as serving
    once that queue has as many consumers as the role has running nodes (each kombu server holds one)."""
    running = [n for n in nodes if n.role in topics and n.running]
    if not kombu:
        return {n.name: consumers.get(f"{topics[n.role]}.{n.name}", 0) > 0 for n in running}
    wanted = {role: sum(1 for n in running if n.role == role) for role in {n.role for n in running}}
    return {n.name: consumers.get(topics[n.role], 0) >= wanted[n.role] for n in running}
