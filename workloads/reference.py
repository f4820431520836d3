"""The seed's seven reference workflows, and optional policy kinds, generated from parameters.

Every task runs `lab.witness`, so each physical action run can be matched against Mistral's own view; each
start records `expected_tasks` and `expected_actions`. The policy kinds and how their expected work is counted:
docs/specs.md#the-reference-workload.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import yaml

from cluster.errors import LabError

REFERENCE_KINDS = ("sequence", "parallel", "par-sequences", "join", "seq-join", "with-items", "complex")
# Optional kinds: valid everywhere a kind is named, but not in the default draw (REFERENCE_KINDS).
POLICY_KINDS = ("retry", "timeout", "wait-before", "wait-after", "subworkflow", "multi-join")
ALL_KINDS = REFERENCE_KINDS + POLICY_KINDS
MAX_N = 1000
RETRY_POLICY = {"count": 2, "delay": 1}
WAIT_S = 1              # wait-before / wait-after of the wait kinds
TIMEOUT_MARGIN_S = 30   # a task's timeout = its action's seconds + this: only a fault makes it fire


@dataclass(frozen=True)
class ReferenceWorkflow:
    kind: str
    name: str
    definition: str          # Mistral v2 DSL (YAML)
    expected_tasks: int      # task executions of a SUCCESS run
    expected_actions: int    # witness action runs of a SUCCESS run (one per task, one per with-items item)


Tasks = dict[str, dict]


def _witness(label: str, seconds: float, idempotent: bool, item: str | None = None) -> dict:
    """A task body running lab.witness; seconds comes from the workflow input so one run can override it."""
    params: dict = {"seconds": "<% $.seconds %>", "label": label, "idempotent": idempotent}
    if item is not None:
        params["item"] = item
    return {"action": "lab.witness", "input": params}


def _chain(prefix: str, n: int, seconds: float, idempotent: bool, then: str | None = None) -> Tasks:
    """prefix_1 -> prefix_2 -> ... -> prefix_n [-> then]."""
    tasks: Tasks = {}
    for i in range(1, n + 1):
        name = f"{prefix}_{i}"
        tasks[name] = _witness(name, seconds, idempotent)
        following = f"{prefix}_{i + 1}" if i < n else then
        if following:
            tasks[name]["on-success"] = [following]
    return tasks


def _fan(prefix: str, n: int, seconds: float, idempotent: bool, then: str | None = None) -> Tasks:
    """n independent tasks prefix_1..prefix_n, each [-> then]."""
    tasks: Tasks = {}
    for i in range(1, n + 1):
        name = f"{prefix}_{i}"
        tasks[name] = _witness(name, seconds, idempotent)
        if then:
            tasks[name]["on-success"] = [then]
    return tasks


def _sequences(x: int, n: int, seconds: float, idempotent: bool, then: str | None = None) -> Tasks:
    tasks: Tasks = {}
    for j in range(1, x + 1):
        tasks.update(_chain(f"seq{j}", n, seconds, idempotent, then))
    return tasks


def _join(name: str, seconds: float, idempotent: bool) -> Tasks:
    return {name: {**_witness(name, seconds, idempotent), "join": "all"}}


def _with_items(name: str, n: int, seconds: float, idempotent: bool) -> Tasks:
    body = _witness(name, seconds, idempotent, item="<% $.i %>")
    return {name: {"with-items": f"i in <% range(0, {n}) %>", **body}}


def _complex(n: int, x: int, seconds: float, idempotent: bool) -> Tasks:
    """start fans out to a sequence, N parallel tasks joined, X sequences joined and a with-items task;
    every branch ends in one final `join: all`."""
    tasks: Tasks = {"start": _witness("start", seconds, idempotent)}
    tasks.update(_chain("seq", n, seconds, idempotent, then="join_final"))
    tasks.update(_fan("par", n, seconds, idempotent, then="join_par"))
    tasks.update({k: {**v, "on-success": ["join_final"]} for k, v in _join("join_par", seconds, idempotent).items()})
    tasks.update(_sequences(x, n, seconds, idempotent, then="join_seqs"))
    tasks.update({k: {**v, "on-success": ["join_final"]} for k, v in _join("join_seqs", seconds, idempotent).items()})
    tasks.update({k: {**v, "on-success": ["join_final"]} for k, v in _with_items("items", n, seconds, idempotent).items()})
    tasks.update(_join("join_final", seconds, idempotent))
    heads = ["seq_1", *(f"par_{i}" for i in range(1, n + 1)), *(f"seq{j}_1" for j in range(1, x + 1)), "items"]
    tasks["start"]["on-success"] = heads
    return tasks


def _tasks_for(kind: str, n: int, x: int, seconds: float, idempotent: bool) -> tuple[Tasks, int]:
    """The task graph and the number of extra witness runs beyond one per task (with-items items)."""
    if kind == "sequence":
        return _chain("t", n, seconds, idempotent), 0
    if kind == "parallel":
        return _fan("p", n, seconds, idempotent), 0
    if kind == "par-sequences":
        return _sequences(x, n, seconds, idempotent), 0
    if kind == "join":
        return {**_fan("p", n, seconds, idempotent, then="joined"), **_join("joined", seconds, idempotent)}, 0
    if kind == "seq-join":
        return {**_sequences(x, n, seconds, idempotent, then="joined"), **_join("joined", seconds, idempotent)}, 0
    if kind == "with-items":
        return _with_items("items", n, seconds, idempotent), n - 1
    return _complex(n, x, seconds, idempotent), n - 1


def _policy(tasks: Tasks, key: str, value: object) -> Tasks:
    """Every task of `tasks` with the task policy `key: value`."""
    return {name: {**task, key: value} for name, task in tasks.items()}


def _policy_value(kind: str, seconds: float) -> object:
    if kind == "retry":
        return dict(RETRY_POLICY)
    if kind == "timeout":
        return math.ceil(seconds) + TIMEOUT_MARGIN_S
    return WAIT_S


def _subworkflow(child: str, x: int, seconds: float, idempotent: bool) -> Tasks:
    """before -> sub_1..sub_x (each runs `child`) -> after (join: all)."""
    subs = {f"sub_{j}": {"workflow": child, "input": {"seconds": "<% $.seconds %>"}, "on-success": ["after"]}
            for j in range(1, x + 1)}
    before = {**_witness("before", seconds, idempotent), "on-success": list(subs)}
    return {"before": before, **subs, **_join("after", seconds, idempotent)}


def _multi_join(n: int, x: int, seconds: float, idempotent: bool) -> Tasks:
    """p_1..p_n each -> join_1..join_x (join: all) -> final (join: all)."""
    joins = [f"join_{j}" for j in range(1, x + 1)]
    tasks = {k: {**v, "on-success": list(joins)} for k, v in _fan("p", n, seconds, idempotent).items()}
    for name in joins:
        tasks.update({k: {**v, "on-success": ["final"]} for k, v in _join(name, seconds, idempotent).items()})
    tasks.update(_join("final", seconds, idempotent))
    return tasks


def _policy_workflows(kind: str, name: str, n: int, x: int, seconds: float, idempotent: bool) -> dict[str, Tasks]:
    """Workflow name -> task graph; the started workflow `name` first."""
    if kind == "subworkflow":
        child = f"{name}_child"
        return {name: _subworkflow(child, x, seconds, idempotent), child: _chain("c", n, seconds, idempotent)}
    if kind == "multi-join":
        return {name: _multi_join(n, x, seconds, idempotent)}
    return {name: _policy(_chain("t", n, seconds, idempotent), kind, _policy_value(kind, seconds))}


def workflow_name(kind: str, n: int, x: int, seconds: float, idempotent: bool = False) -> str:
    millis = int(round(seconds * 1000))
    return f"lab_ref_{kind.replace('-', '_')}_n{n}_x{x}_ms{millis}{'_idem' if idempotent else ''}"


def reference_workflow(kind: str, n: int, x: int = 2, seconds: float = 0.0, *,
                       idempotent: bool = False) -> ReferenceWorkflow:
    """The reference workflow `kind` with n tasks (per sequence/fan), x sequences, each action sleeping `seconds`."""
    if kind not in ALL_KINDS:
        raise LabError(f"unknown reference workflow kind {kind!r} (known: {', '.join(ALL_KINDS)})")
    for label, value in (("n", n), ("x", x)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_N:
            raise LabError(f"reference workflow {label} must be an integer between 1 and {MAX_N}, got {value!r}")
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise LabError(f"reference workflow seconds must be a number >= 0, got {seconds!r}")
    if kind in POLICY_KINDS:
        return _policy_reference(kind, n, x, float(seconds), idempotent)
    tasks, extra_actions = _tasks_for(kind, n, x, float(seconds), idempotent)
    name = workflow_name(kind, n, x, float(seconds), idempotent)
    document = {"version": "2.0", name: {"type": "direct", "input": [{"seconds": float(seconds)}],
                                         "tasks": tasks}}
    definition = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    return ReferenceWorkflow(kind=kind, name=name, definition=definition, expected_tasks=len(tasks),
                             expected_actions=len(tasks) + extra_actions)


def _policy_reference(kind: str, n: int, x: int, seconds: float, idempotent: bool) -> ReferenceWorkflow:
    name = workflow_name(kind, n, x, seconds, idempotent)
    graphs = _policy_workflows(kind, name, n, x, seconds, idempotent)
    # One document may hold several workflows: the subworkflow kind's parent and child are created together.
    document: dict = {"version": "2.0"}
    for wf_name, tasks in graphs.items():
        document[wf_name] = {"type": "direct", "input": [{"seconds": seconds}], "tasks": tasks}
    definition = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    # No policy kind has with-items: one witness run per witness task. A child execution's tasks and
    # actions belong to the child (Mistral lists them under its own id), so only the parent's count.
    own = graphs[name]
    actions = sum(1 for task in own.values() if task.get("action") == "lab.witness")
    return ReferenceWorkflow(kind=kind, name=name, definition=definition, expected_tasks=len(own),
                             expected_actions=actions)


__all__ = ["ALL_KINDS", "POLICY_KINDS", "REFERENCE_KINDS", "ReferenceWorkflow", "reference_workflow",
           "workflow_name"]
