"""The seed's seven reference workflows, generated from parameters.

Every task runs `lab.witness` (label = task name), so each physical action run leaves witness records that
the exactly-once checker can match against Mistral's own view. `expected_tasks` is the number of task
executions a SUCCESS run has; `expected_actions` the number of witness action runs (a with-items task is one
task execution but one action per item).
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from cluster.errors import LabError

REFERENCE_KINDS = ("sequence", "parallel", "par-sequences", "join", "seq-join", "with-items", "complex")
MAX_N = 1000


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


def workflow_name(kind: str, n: int, x: int, seconds: float, idempotent: bool = False) -> str:
    millis = int(round(seconds * 1000))
    return f"lab_ref_{kind.replace('-', '_')}_n{n}_x{x}_ms{millis}{'_idem' if idempotent else ''}"


def reference_workflow(kind: str, n: int, x: int = 2, seconds: float = 0.0, *,
                       idempotent: bool = False) -> ReferenceWorkflow:
    """The reference workflow `kind` with n tasks (per sequence/fan), x sequences, each action sleeping `seconds`."""
    if kind not in REFERENCE_KINDS:
        raise LabError(f"unknown reference workflow kind {kind!r} (known: {', '.join(REFERENCE_KINDS)})")
    for label, value in (("n", n), ("x", x)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_N:
            raise LabError(f"reference workflow {label} must be an integer between 1 and {MAX_N}, got {value!r}")
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise LabError(f"reference workflow seconds must be a number >= 0, got {seconds!r}")
    tasks, extra_actions = _tasks_for(kind, n, x, float(seconds), idempotent)
    name = workflow_name(kind, n, x, float(seconds), idempotent)
    document = {"version": "2.0", name: {"type": "direct", "input": [{"seconds": float(seconds)}],
                                         "tasks": tasks}}
    definition = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    return ReferenceWorkflow(kind=kind, name=name, definition=definition, expected_tasks=len(tasks),
                             expected_actions=len(tasks) + extra_actions)


__all__ = ["REFERENCE_KINDS", "ReferenceWorkflow", "reference_workflow", "workflow_name"]
