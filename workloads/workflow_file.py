"""Workflow workload: start a user's own workflow, from a Mistral v2 workflow file or workbook, through every
API node.

What it takes is what Mistral takes (workloads.workflow_dsl): a workflow file or a workbook, direct or reverse
workflows, several in one file with the one to start named (`workflow`; a workbook's as WF or BOOK.WF), the
start `params` (`task_name` of a reverse workflow, `env`, `namespace`), `input` checked against the declared
input and its defaults, and expressions (YAQL, Jinja) left to Mistral. Every mistake Mistral would refuse at
each start is a LabError when the workload is built, so at spec load, before any cluster.

Setup creates (or updates) the file's definitions, then runs one probe execution on the healthy cluster
(workloads.workflow_probe): a refusal, or an end other than the declared one, stops the run there. Each op
starts the workflow with a client-supplied execution id, like the reference workload; its value records what a
SUCCESS run must do where the file fixes it (workloads.workflow_shape) and the lab.witness tasks. A workflow
built to fail (`expect: error`) records {"expect": "ERROR"}: the checkers do not count its ERROR ends as
failures, and no expected work is recorded for it.
"""
from __future__ import annotations

import random
import uuid
from typing import Any

from cluster.errors import LabError
from cluster.mistral_api import NodeClient
from workloads.core import Completion, Op, Param, RunContext, Workload, non_negative, positive
from workloads.reference_load import SETUP_TIMEOUT_S, ensure_workflows, start_execution
from workloads.workflow_dsl import (WorkflowSource, check_input, check_start_params, chosen_workflow, load_source,
                                    mapping_param, resolve_path, workflow_input, workflows_of)
from workloads.workflow_probe import StartRequest, probe
from workloads.workflow_shape import WITNESS_ACTION, expected_counts, witness_tasks

WITNESS_CHECKERS = ("completion", "succeeded-despite-faults", "exactly-once", "perf")
EXPECTED_ENDS = {"success": "SUCCESS", "error": "ERROR"}
PROBE_S = 60.0


def _expect(value: Any) -> str | None:
    return None if str(value).lower() in EXPECTED_ENDS else "success (the default) or error (built to fail)"


class WorkflowWorkload(Workload):
    name = "workflow"
    description = "start a workflow from your own workflow file or workbook through every API node"
    PARAMS = {
        "file": Param("", "the Mistral v2 workflow file or workbook (required); relative paths resolve against "
                          "base_dir"),
        "workflow": Param("", "the workflow to start (a workbook's as WF or BOOK.WF; optional if the file "
                              "defines one)"),
        "input": Param({}, "the workflow input: a mapping (a YAML/JSON string on the command line)"),
        "params": Param({}, "Mistral's start params: task_name (a reverse workflow's target), env, namespace..."),
        "expect": Param("success", "how the workflow ends without faults: success, or error (built to fail)",
                        _expect),
        "probe_s": Param(PROBE_S, "seconds setup waits for its probe execution (0: no probe)", non_negative),
        "base_dir": Param("", "directory a relative file is resolved against (a spec's own directory)"),
        "max_starts": Param(200, "upper bound on executions started", positive),
    }
    checkers = WITNESS_CHECKERS
    starts_executions = True
    aborts_on_refusal = ("start",)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if not self.params["file"]:
            raise LabError("parameter file is required for workload workflow")
        self.path = resolve_path(str(self.params["file"]), str(self.params["base_dir"]))
        self.source: WorkflowSource = load_source(self.path)
        self.workflows = self.source.workflows
        chosen = chosen_workflow(self.source, str(self.params["workflow"]))
        body = self.workflows[chosen]
        self.params["input"] = workflow_input(self.params["input"])
        self.params["params"] = mapping_param(self.params["params"], "params", "Mistral's start params")
        self.params["expect"] = str(self.params["expect"]).lower()
        check_input(chosen, body, self.params["input"])
        check_start_params(chosen, body, self.params["params"])
        start_params = {k: v for k, v in self.params["params"].items() if k != "namespace"}
        self.request = StartRequest(self.source.full_name(chosen), self.params["input"], start_params,
                                    str(self.params["params"].get("namespace") or ""))
        self.start_value = _start_value(self.request.workflow, body, start_params, self.params["expect"])
        if not self.start_value["witness_tasks"]:  # no witness runs to judge: exactly-once would say unknown
            self.checkers = tuple(c for c in WITNESS_CHECKERS if c != "exactly-once")
        self.probed: dict[str, Any] | None = None
        self.started = 0

    def setup(self, ctx: RunContext) -> None:
        node = ctx.nodes[0]
        try:
            ensure_workflows(ctx.client_for(node), self.source.definitions(), self.source.kind,
                             self.request.namespace)
            if self.params["probe_s"] > 0:
                # A longer call timeout than the load's: a fresh API node's first start may be slow.
                client = NodeClient(node, ctx.api_urls[node], SETUP_TIMEOUT_S)
                try:
                    self.probed = probe(client, self.request, EXPECTED_ENDS[self.params["expect"]],
                                        float(self.params["probe_s"]))
                finally:
                    client.close()
        except LabError as exc:
            raise LabError(f"{self.path}: {exc}") from None
        self.started = 0

    def next_op(self, rng: random.Random, process: int, node: str) -> Op | None:
        if self.started >= self.params["max_starts"]:
            return None
        self.started += 1
        execution_id = str(uuid.uuid4())  # random, not seeded: a rerun with one seed must not reuse ids
        return Op("start", dict(self.start_value), execution_id)

    def invoke(self, client: NodeClient, op: Op) -> Completion:
        request = self.request
        return start_execution(client, op, request.input or None, request.params or None, request.namespace)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "file_path": str(self.path.resolve()),
                **({"probe": self.probed} if self.probed else {})}


def _start_value(workflow: str, body: dict[str, Any], start_params: dict[str, Any], expect: str) -> dict[str, Any]:
    """A start op's value: the workflow, what a SUCCESS run must do (none for one built to fail), the witness
    tasks."""
    value: dict[str, Any] = {"workflow": workflow, "kind": "workflow"}
    if expect == "error":
        value["expect"] = "ERROR"  # the checkers' mark of an execution built to fail
    else:
        value.update(expected_counts(body, start_params.get("task_name")))
    value["witness_tasks"] = witness_tasks(body)
    return value


__all__ = ["WITNESS_ACTION", "WorkflowWorkload", "expected_counts", "load_source", "resolve_path", "witness_tasks",
           "workflow_input", "workflows_of"]
