"""RPC messages lost in the broker while every consumer of a role is away.

Start kills every node of the target role and waits until no queue of the role has a consumer; heal purges the
role's queues (the heal result's `purged` counts what each lost) and only then starts the nodes again. Why a
serving role loses nothing, what Mistral lives through and the queue names: docs/faults.md#message-loss.
"""
from __future__ import annotations

import json
import random
import re
import time
from typing import Any, Iterable, Mapping, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import RPC_TOPICS
from nemesis.base import NODE_RE, Fault, Opt, register, resolve_targets
from nemesis.nodes import bring_back

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

ROLES = tuple(RPC_TOPICS)
EFFECT_AT_HEAL = "effect_at_heal"  # start-result key naming the heal-result key that says what was touched
CUT_OFF_TIMEOUT_S = 30.0
POLL_S = 0.5


def queue_pattern(role: str) -> str:
    """Regex of the queues holding RPC messages for a role: its topic queue, its servers' and fanout queues."""
    return f"^{re.escape(RPC_TOPICS[role])}($|\\.|_fanout_)"


def consumed(listing: Iterable[Mapping[str, Any]], pattern: str) -> dict[str, int]:
    """Queues of the pattern that still have consumers: queue -> consumer count."""
    return {q["name"]: int(q.get("consumers") or 0) for q in listing
            if re.search(pattern, q["name"]) and int(q.get("consumers") or 0) > 0}


def waiting(listing: Iterable[Mapping[str, Any]], pattern: str) -> dict[str, int]:
    """Queues of the pattern holding ready messages: queue -> ready count (what a purge now would lose)."""
    return {q["name"]: int(q.get("messages_ready") or 0) for q in listing
            if re.search(pattern, q["name"]) and int(q.get("messages_ready") or 0) > 0}


def rabbitmqctl(cluster: Cluster, *args: str) -> str:
    """Run rabbitmqctl in the broker; LabError with its message when it fails."""
    try:
        result = cluster.container("broker").exec_run(["rabbitmqctl", *args],
                                                      environment={"RABBITMQ_NODENAME": "rabbit@localhost"})
    except LabError:
        raise
    except Exception as exc:  # docker APIError: broker paused or stopped
        raise LabError(f"rabbitmqctl {args[0]}: the broker cannot run commands ({str(exc)[:200]})") from exc
    output = result.output.decode(errors="replace")
    if result.exit_code != 0:
        last = output.strip().splitlines()[-1:] or [f"exit {result.exit_code}"]
        raise LabError(f"rabbitmqctl {args[0]} failed: {last[0][:300]}")
    return output


def queues(cluster: Cluster) -> list[dict[str, Any]]:
    """Every queue with its message counts and consumers."""
    out = rabbitmqctl(cluster, "list_queues", "-q", "--formatter", "json", "name", "messages", "messages_ready",
                      "messages_unacknowledged", "consumers")
    return json.loads(out or "[]")


def wait_cut_off(cluster: Cluster, pattern: str, timeout: float = CUT_OFF_TIMEOUT_S) -> float:
    """Seconds until no queue of the pattern has a consumer; LabError naming the queues after `timeout`."""
    started = time.monotonic()
    while True:
        left = consumed(queues(cluster), pattern)  # each rabbitmqctl call boots an Erlang VM: about a second
        if not left:
            return round(time.monotonic() - started, 2)
        if time.monotonic() - started > timeout:
            raise LabError(f"message-loss: queues still consumed {timeout:g} s after their nodes were killed: "
                           + ", ".join(f"{name} ({n})" for name, n in sorted(left.items())))
        time.sleep(POLL_S)


def purge_waiting(cluster: Cluster, pattern: str) -> dict[str, int]:
    """Purge every queue of the pattern that holds ready messages; queue -> messages it held (counted just
    before its purge: with no consumer nothing else takes them, so this is what was lost, give or take a
    message published between the count and the purge)."""
    purged = {}
    for name, ready in sorted(waiting(queues(cluster), pattern).items()):
        rabbitmqctl(cluster, "purge_queue", name)
        purged[name] = ready
    return purged


@register
class MessageLoss(Fault):
    name = "message-loss"
    summary = ("lose the RPC messages sent to a role while every node of it is down: kill the role, let its "
               "messages wait in the broker, purge them on heal, restart the nodes")
    OPTIONS = {"wait": Opt(bool, True, "on heal, wait until the restarted nodes consume again")}
    ROLES = ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        target = str(self.target)
        if "," in target or NODE_RE.match(target):
            raise LabError("message-loss takes one role (engine, executor or notifier), not a node: a message "
                           "waits in the broker only while every node of the role is away")
        self.role: str | None = None
        self.killed: list[str] = []
        self.cut_off = False

    def _resolve(self, cluster: Cluster, rng: random.Random) -> str:
        target = str(self.target)
        if target == "random":
            return self._targets(cluster, rng)[0].role
        return target.split(":", 1)[1] if target.startswith("random:") else target

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        role = self._resolve(cluster, rng)
        nodes = resolve_targets(cluster, role, self.ROLES, rng)  # every node of the role, all running
        self.role = role
        for node in nodes:
            self.killed.append(node.name)  # before the kill: a partial start is healed too
            cluster.kill(node.name, "SIGKILL")
        pattern = queue_pattern(role)
        cut_off_s = wait_cut_off(cluster, pattern, CUT_OFF_TIMEOUT_S)
        self.cut_off = True
        return {"role": role, "killed": [n.name for n in nodes], "queues": pattern, "cut_off_s": cut_off_s,
                EFFECT_AT_HEAL: "purged"}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        result: dict[str, Any] = {}
        try:
            if self.cut_off and self.role is not None:
                self.cut_off = False
                try:
                    result["purged"] = purge_waiting(cluster, queue_pattern(self.role))
                except LabError as exc:
                    result["purged"], result["error"] = {}, str(exc)
                result["lost_messages"] = sum(result["purged"].values())
        finally:
            killed, self.killed = self.killed, []
            result["restarted"] = bring_back(cluster, killed, wait=self.options["wait"])
        return result

    def describe(self) -> str:
        target = str(self.target)
        role = "a random role" if target == "random" else target.split(":", 1)[-1]
        return (f"message-loss: kill every node of {role}, purge the RPC messages waiting for it on heal, "
                "then restart the nodes")
