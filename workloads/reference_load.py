"""Reference workload: start the seed's reference workflows through every API node.

Every start carries a client-supplied execution id (f="start", key=<id>), so an indeterminate start can be
looked up later. The runner waits for started executions to settle; the completion, succeeded-despite-faults
and exactly-once checkers judge what happened to them.
"""
from __future__ import annotations

import random
import uuid
from typing import Any

import requests

from cluster.errors import LabError
from cluster.mistral_api import HttpError, NodeClient, error_message
from workloads.core import Completion, Op, Param, RunContext, Workload, non_negative, positive
from workloads.reference import ALL_KINDS, REFERENCE_KINDS, ReferenceWorkflow, reference_workflow


def _kinds(value: tuple[str, ...]) -> str | None:
    unknown = [k for k in value if k not in ALL_KINDS]
    if unknown or not value:
        return f"unknown kind {unknown[0] if unknown else ''!r} (known: {', '.join(ALL_KINDS)})"
    return None


SETUP_TIMEOUT_S = 90.0


class ReferenceWorkload(Workload):
    name = "reference"
    description = "start reference workflows (lab.witness tasks) through every API node"
    PARAMS = {
        "kinds": Param(REFERENCE_KINDS, "comma-separated reference kinds to draw from", _kinds),
        "n": Param(3, "tasks per sequence / fan-out / with-items", positive),
        "x": Param(2, "parallel sequences", positive),
        "seconds": Param(0.2, "seconds each witness action runs", non_negative),
        "max_starts": Param(200, "upper bound on executions started", positive),
    }
    checkers = ("completion", "succeeded-despite-faults", "exactly-once", "perf")
    starts_executions = True
    aborts_on_refusal = ("start",)

    def setup(self, ctx: RunContext) -> None:
        self.workflows: dict[str, ReferenceWorkflow] = {
            kind: reference_workflow(kind, self.params["n"], self.params["x"], self.params["seconds"])
            for kind in self.params["kinds"]}
        ensure_workflows(ctx.client_for(ctx.nodes[0]), [w.definition for w in self.workflows.values()])
        self.started = 0

    def next_op(self, rng: random.Random, process: int, node: str) -> Op | None:
        if self.started >= self.params["max_starts"]:
            return None
        self.started += 1
        workflow = self.workflows[rng.choice(sorted(self.workflows))]
        execution_id = str(uuid.uuid4())  # random, not seeded: a rerun with one seed must not reuse ids
        return Op("start", {"workflow": workflow.name, "kind": workflow.kind,
                            "expected_tasks": workflow.expected_tasks,
                            "expected_actions": workflow.expected_actions}, execution_id)

    def invoke(self, client: NodeClient, op: Op) -> Completion:
        return start_execution(client, op)


def start_execution(client: NodeClient, op: Op, workflow_input: dict | None = None, params: dict | None = None,
                    namespace: str = "") -> Completion:
    """POST the execution with its client-supplied id; ok carries the state Mistral returned. A 4xx is Mistral's
    refusal, so the start certainly did not happen (fail); a 5xx may have created it (info)."""
    start: dict[str, Any] = {"params": params} if params else {}
    if namespace:
        start["namespace"] = namespace
    try:
        body = client.create_execution(str(op.key), op.value["workflow"], workflow_input, **start)
    except HttpError as exc:
        if 400 <= exc.status < 500:
            return Completion.fail(str(exc))
        return Completion.info(str(exc))
    return Completion.ok(body.get("state"))


def ensure_workflows(client: NodeClient, definitions: list[str], kind: str = "workflows", namespace: str = "") -> None:
    """Create (or update) every definition through one node, as `kind` (workflows or workbooks) in `namespace`;
    a refusal is a LabError with Mistral's message."""
    what = "workbook" if kind == "workbooks" else "workflow"
    for definition in definitions:
        try:
            _create_or_update(client, definition, kind, namespace)
        except HttpError as exc:
            raise LabError(f"cannot create {what} on {client.node}: {exc}") from None
        except requests.RequestException as exc:
            raise LabError(f"cannot create {what} on {client.node}: "
                           f"{exc.__class__.__name__} after {SETUP_TIMEOUT_S:.0f} s") from None


def _create_or_update(client: NodeClient, definition: str, kind: str = "workflows", namespace: str = "") -> None:
    # Setup is not a measured op: a fresh API node's first definitions can take long on a loaded machine.
    url = f"{client.url}/v2/{kind}"
    send: dict[str, Any] = {"data": definition, "headers": {"Content-Type": "text/plain"}, "timeout": SETUP_TIMEOUT_S}
    if namespace:
        send["params"] = {"namespace": namespace}
    response = client.session.post(url, **send)
    if response.status_code == 409:
        response = client.session.put(url, **send)
    if response.status_code not in (200, 201):
        raise HttpError(response.status_code, error_message(response))


__all__ = ["ReferenceWorkload", "ensure_workflows", "start_execution"]
