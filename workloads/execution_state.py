"""Execution-state workload: start executions, read their state from different API nodes, pause/resume/cancel.

Each execution is one key of the `execution-state` lifecycle model (checker/models/execution_state.py): the
engine may move a state forward at any time, but no client may observe it go back. Ops: start (client-supplied
id), read, pause, resume, cancel; every ok completion carries the state Mistral answered with.
"""
from __future__ import annotations

import random
import uuid

from mistralclient.api.base import APIException

from cluster.mistral_api import NodeClient, api_error
from workloads.core import Completion, Op, Param, RunContext, Workload, non_negative, positive
from workloads.reference import reference_workflow
from workloads.reference_load import ensure_workflows, start_execution
from history.started import counts_as_started

from history.mistral import TERMINAL_STATES as TERMINAL
TARGET_STATE = {"pause": "PAUSED", "resume": "RUNNING", "cancel": "CANCELLED"}
ABSENT = "ABSENT"  # what a read of an unknown execution id returns (HTTP 404)


class ExecutionStateWorkload(Workload):
    name = "execution-state"
    description = "start executions, read their state from every API node, pause/resume/cancel some"
    PARAMS = {
        "n": Param(3, "tasks in the sequence each execution runs", positive),
        "seconds": Param(1.0, "seconds each witness action runs", non_negative),
        "max_starts": Param(30, "upper bound on executions started", positive),
        "active": Param(6, "executions worked on at once", positive),
        "start_ratio": Param(0.15, "share of starts (while fewer than `active` are running)", non_negative),
        "control_ratio": Param(0.3, "share of pause/resume/cancel", non_negative),
        "cancel_share": Param(0.2, "share of control ops that cancel", non_negative),
    }
    checkers = ("linearizable", "completion", "succeeded-despite-faults", "exactly-once", "perf")
    model = "execution-state"
    starts_executions = True

    def setup(self, ctx: RunContext) -> None:
        self.workflow = reference_workflow("sequence", self.params["n"], seconds=self.params["seconds"])
        ensure_workflows(ctx.client_for(ctx.nodes[0]), [self.workflow.definition])
        self.started = 0
        self.known: list[str] = []            # ids whose start was ok or info: they may exist
        self.last_seen: dict[str, str] = {}   # id -> last state some client saw

    def _live(self) -> list[str]:
        return [i for i in self.known if self.last_seen.get(i) not in TERMINAL]

    def next_op(self, rng: random.Random, process: int, node: str) -> Op | None:
        live = self._live()
        can_start = self.started < self.params["max_starts"] and len(live) < self.params["active"]
        if can_start and (not live or rng.random() < self.params["start_ratio"]):
            self.started += 1
            return Op("start", {"workflow": self.workflow.name, "expected_tasks": self.workflow.expected_tasks},
                      str(uuid.uuid4()))
        pool = live or self.known
        if not pool:
            return None  # every start was refused and no more may be made
        target = rng.choice(pool)
        if live and rng.random() < self.params["control_ratio"]:
            if rng.random() < self.params["cancel_share"]:
                return Op("cancel", None, target)
            return Op("resume" if self.last_seen.get(target) == "PAUSED" else "pause", None, target)
        return Op("read", None, target)

    def observe(self, op: Op, completion: Completion) -> None:
        if counts_as_started(op.f, op.key, completion.type) and op.key not in self.known:
            self.known.append(str(op.key))
        if completion.type == "ok" and isinstance(completion.value, str) and completion.value != ABSENT:
            self.last_seen[str(op.key)] = completion.value

    def invoke(self, client: NodeClient, op: Op) -> Completion:
        if op.f == "start":
            return start_execution(client, op)
        executions = client.mistral.executions
        try:
            if op.f == "read":
                return Completion.ok(executions.get(str(op.key)).state)
            return Completion.ok(executions.update(str(op.key), TARGET_STATE[op.f]).state)
        except APIException as exc:
            error = api_error(exc)
            if op.f == "read" and error.status == 404:
                return Completion.ok(ABSENT)
            if 400 <= error.status < 500:
                return Completion.fail(str(error))
            return Completion.info(str(error))

    def finish_ops(self, ctx: RunContext) -> list[Op]:
        """Resume whatever may be paused, so every execution can reach a terminal state."""
        nodes = ctx.nodes
        return [Op("resume", None, ex_id, node=nodes[i % len(nodes)])
                for i, ex_id in enumerate(self.known) if self.last_seen.get(ex_id) not in TERMINAL]

    def final_reads(self, ctx: RunContext) -> list[Op]:
        return [Op("read", None, ex_id, node=node) for ex_id in self.known for node in ctx.nodes]


__all__ = ["ExecutionStateWorkload", "ABSENT", "TERMINAL"]
