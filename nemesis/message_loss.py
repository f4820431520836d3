"""RPC message loss inside the broker: purge the queues of a role or node, or apply a short-lived policy that
makes the broker discard their messages (message-ttl, or max-length with drop-head) until heal.

Queues follow oslo.messaging's names: `<topic>` (shared by a role), `<topic>.<node>` (one server) and
`<topic>_fanout_<id>`; topics are mistral_engine, mistral_executor, mistral_notifier. Policies the lab adds are
named `mistral-lab-<id>` so heal can find and clear every one.
"""
from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any, TYPE_CHECKING

from cluster.topology import RPC_TOPICS
from cluster.errors import LabError
from nemesis.base import NODE_RE, Fault, Opt, register

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

POLICY_PREFIX = "mistral-lab-"
MODES = ("purge", "ttl", "max-length")
ROLES = tuple(RPC_TOPICS)


def queue_pattern(target: str) -> str:
    """Regex of the queues holding RPC messages for a role (all its queues) or one node (its server queue)."""
    match = NODE_RE.match(target)
    if match:
        return f"^{re.escape(RPC_TOPICS[match['role']])}\\.{re.escape(target)}$"
    topic = re.escape(RPC_TOPICS[target])
    return f"^{topic}($|\\.|_fanout_)"


def policy_definition(mode: str, ttl_ms: int, max_length: int) -> dict[str, Any]:
    if mode == "ttl":
        return {"message-ttl": ttl_ms}
    return {"max-length": max_length, "overflow": "drop-head"}


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
    """Every queue with its message counts, consumers and applied policy."""
    out = rabbitmqctl(cluster, "list_queues", "-q", "--formatter", "json", "name", "messages", "messages_ready",
                      "messages_unacknowledged", "consumers", "policy")
    return json.loads(out or "[]")


def lab_policies(cluster: Cluster) -> list[str]:
    out = rabbitmqctl(cluster, "list_policies", "-q", "--formatter", "json")
    return [p["name"] for p in json.loads(out or "[]") if p.get("name", "").startswith(POLICY_PREFIX)]


def clear_policy(cluster: Cluster, name: str) -> None:
    rabbitmqctl(cluster, "clear_policy", name)


@register
class MessageLoss(Fault):
    name = "message-loss"
    summary = "lose RPC messages in the broker: purge a role's/node's queues, or a message-ttl/max-length policy"
    OPTIONS = {
        "mode": Opt(str, "purge", "purge once, or a ttl / max-length policy until heal", choices=MODES),
        "ttl_ms": Opt(int, 0, "message-ttl for mode=ttl (0: drop unless a consumer takes it at once)",
                      low=0, high=3_600_000),
        "max_length": Opt(int, 0, "max-length for mode=max-length (oldest dropped first)", low=0, high=100_000),
    }
    ROLES = ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        if "," in self.target:
            raise LabError("message-loss takes one role or node as --target")
        self.policy: str | None = None

    def _resolve(self, cluster: Cluster, rng: random.Random) -> str:
        if self.target.startswith("random"):
            return self._targets(cluster, rng)[0].role
        if NODE_RE.match(self.target):
            cluster.node(self.target)  # LabError when the node does not exist
        elif not cluster.nodes(self.target):
            raise LabError(f"target {self.target!r}: lab {cluster.name!r} has no {self.target} node")
        return self.target

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        target = self._resolve(cluster, rng)
        pattern = queue_pattern(target)
        mode = self.options["mode"]
        if mode == "purge":
            purged = {}
            for queue in queues(cluster):
                # Only queues holding messages: each rabbitmqctl call boots an Erlang VM (seconds).
                if re.search(pattern, queue["name"]) and int(queue.get("messages_ready", 0)) > 0:
                    rabbitmqctl(cluster, "purge_queue", queue["name"])
                    purged[queue["name"]] = int(queue["messages_ready"])
            return {"target": target, "mode": mode, "purged_ready_messages": purged}
        definition = policy_definition(mode, self.options["ttl_ms"], self.options["max_length"])
        self.policy = f"{POLICY_PREFIX}{uuid.uuid4().hex[:8]}"
        rabbitmqctl(cluster, "set_policy", "--apply-to", "queues", "--priority", "999", self.policy, pattern,
                    json.dumps(definition))
        return {"target": target, "mode": mode, "policy": self.policy, "pattern": pattern,
                "definition": definition}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.policy is None:
            return {"cleared": None}
        policy, self.policy = self.policy, None
        if policy in lab_policies(cluster):
            clear_policy(cluster, policy)
        return {"cleared": policy}

    def describe(self) -> str:
        mode = self.options["mode"]
        what = {"purge": "purge the queues", "ttl": f"message-ttl={self.options['ttl_ms']}ms on the queues",
                "max-length": f"max-length={self.options['max_length']} on the queues"}[mode]
        return f"message-loss: {what} of {self.target}" + ("" if mode == "purge" else ", clear on heal")
