"""Workflow workload: start a user's own workflow, from a Mistral v2 workflow file, through every API node.

Setup creates (or updates) every workflow the file defines; each op starts the chosen workflow with the given
input and a client-supplied execution id, like the reference workload. What a SUCCESS run must do is computed
from the file when it can be: a direct workflow whose success path has no conditions gives `expected_tasks`
(task executions) and `expected_actions` (lab.witness runs); anything the file leaves to run time (a
condition, with-items, an on-error handler, a loop, a reverse workflow...) leaves the key out rather than
guess. The start op also records which tasks call lab.witness and with what `idempotent`: those are the
tasks the exactly-once checker judges.

Every problem with the file, the workflow name or the input is a LabError raised when the workload is built.
"""
from __future__ import annotations

import random
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from cluster.errors import LabError
from cluster.mistral_api import NodeClient
from workloads.core import Completion, Op, Param, RunContext, Workload, positive
from workloads.reference_load import ensure_workflows, start_execution

WITNESS_ACTION = "lab.witness"
ENDING_COMMANDS = ("fail", "succeed", "pause")  # Mistral's reserved targets besides noop: they stop the graph
ADVANCED_CLAUSE = {"publish", "next"}           # on-success: {publish: ..., next: [...]}
SUCCESS_CLAUSES = ("on-success", "on-complete")  # followed when a task succeeds
CLAUSES = (*SUCCESS_CLAUSES, "on-error")
WITNESS_CHECKERS = ("completion", "succeeded-despite-faults", "exactly-once", "perf")

Workflows = dict[str, dict[str, Any]]


# ---------------------------------------------------------------- the file
def resolve_path(file: str, base_dir: str = "") -> Path:
    """`file` as given if absolute, else relative to `base_dir` (the spec's directory) or the current one."""
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = Path(base_dir or ".") / path
    return path


def load_workflow_file(path: Path) -> Workflows:
    """Workflow name -> definition body, from a Mistral v2 workflow file (not a workbook)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError(f"workflow file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LabError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return workflows_of(document, str(path))


def workflows_of(document: Any, where: str) -> Workflows:
    if not isinstance(document, dict):
        raise LabError(f"{where}: a workflow file is a YAML mapping: version: '2.0' and one entry per workflow")
    if "workflows" in document and "name" in document:
        raise LabError(f"{where}: this is a workbook; give a workflow file (version and workflows at top level)")
    version = document.get("version", "2.0")  # Mistral's default; 2.0 written as a number is fine too
    if not _is_v2(version):
        raise LabError(f"{where}: unsupported DSL version {version!r} (Mistral 23 reads '2.0')")
    workflows = {str(k): v for k, v in document.items() if k != "version"}
    if not workflows:
        raise LabError(f"{where}: defines no workflow")
    for name, body in workflows.items():
        if not isinstance(body, dict):
            raise LabError(f"{where}: workflow {name!r} must be a mapping (type, input, tasks...)")
    return workflows


def _is_v2(version: Any) -> bool:
    try:
        return float(version) == 2.0
    except (TypeError, ValueError):
        return False


def definitions(workflows: Workflows) -> list[str]:
    """One definition per workflow: a create-or-update of each then works when only some exist already."""
    return [yaml.safe_dump({"version": "2.0", name: body}, sort_keys=False, default_flow_style=False)
            for name, body in workflows.items()]


# ---------------------------------------------------------------- input
def workflow_input(raw: Any) -> dict[str, Any]:
    """The input mapping; a string (from --param input=...) is read as YAML/JSON."""
    value = raw
    if isinstance(raw, str):
        try:
            value = yaml.safe_load(raw) if raw.strip() else {}
        except yaml.YAMLError:
            raise LabError(f"parameter input={raw!r} for workload workflow: not valid YAML/JSON") from None
    if not isinstance(value, dict):
        raise LabError(f"parameter input={raw!r} for workload workflow: must be a mapping of input names to values")
    return {str(k): v for k, v in value.items()}


def check_input(name: str, body: dict[str, Any], given: dict[str, Any]) -> None:
    """What Mistral checks at every start (missing / unexpected input), checked once before the run."""
    declared = body.get("input") or []
    if not isinstance(declared, list):
        return  # not a form we can read; Mistral itself will judge it when the workflow is created
    required, known = set(), set()
    for entry in declared:
        if isinstance(entry, str):
            required.add(entry)
            known.add(entry)
        elif isinstance(entry, dict) and len(entry) == 1:
            known.add(str(next(iter(entry))))
        else:
            return
    missing = sorted(required - set(given))
    unexpected = sorted(set(given) - known)
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected)}"] if unexpected else [])
        raise LabError(f"input for workflow {name!r}: {'; '.join(parts)} (declared: "
                       f"{', '.join(sorted(known)) or 'none'}); Mistral would refuse every start")


# ---------------------------------------------------------------- what a SUCCESS run must do
def _entries(clause: Any) -> list[Any]:
    """A transition clause's entries; the advanced form {publish: ..., next: [...]} gives its `next`."""
    if isinstance(clause, dict) and clause and set(clause) <= ADVANCED_CLAUSE:
        clause = clause.get("next")
    if clause is None:
        return []
    return clause if isinstance(clause, list) else [clause]


def _names(clause: Any) -> list[str]:
    """Every target a clause names, conditional or not."""
    names: list[str] = []
    for entry in _entries(clause):
        if isinstance(entry, str) and entry.strip():
            names.append(entry.split()[0])
        elif isinstance(entry, dict):
            names.extend(str(k) for k in entry)
    return names


def _targets(clause: Any) -> list[str] | None:
    """Targets of an unconditional clause (with repeats); None if any entry has a condition."""
    entries = _entries(clause)
    if not all(isinstance(e, str) and e.strip() for e in entries):
        return None  # {task: condition}: decided at run time
    return [e.split()[0] for e in entries]


def _successors(tasks: dict[str, Any], name: str) -> list[str] | None:
    """Where a SUCCESS of `name` goes (with repeats: each transition makes one more task execution);
    None when that is decided at run time or a failure could still end in SUCCESS by another path."""
    task = tasks[name]
    found: list[str] = []
    for clause in SUCCESS_CLAUSES:
        targets = _targets(task.get(clause))
        if targets is None or any(t in ENDING_COMMANDS for t in targets):
            return None  # succeed/fail/pause end the run before the rest of the graph
        found += [t for t in targets if t != "noop"]
    errors = _targets(task.get("on-error"))
    # An on-error handler lets a failed task's run still SUCCEED by another path; `fail` keeps it an ERROR.
    if errors is None or (errors and "fail" not in errors):
        return None
    return found if all(t in tasks for t in found) else None


def _inbound(tasks: dict[str, Any]) -> dict[str, set[str]]:
    """Task -> the tasks with any transition to it (Mistral starts the tasks that have none)."""
    inbound: dict[str, set[str]] = defaultdict(set)
    for name, task in tasks.items():
        for clause in CLAUSES:
            for target in _names(task.get(clause)):
                inbound[target].add(name)
    return inbound


def _reachable(tasks: dict[str, Any], starts: list[str]) -> dict[str, list[str]] | None:
    """Task -> its success successors, for every task reachable from `starts`; None if a step is not static."""
    edges: dict[str, list[str]] = {}
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in edges:
            continue
        following = _successors(tasks, name)
        if following is None:
            return None
        edges[name] = following
        stack.extend(following)
    return edges


def _topological(edges: dict[str, list[str]]) -> list[str] | None:
    """Upstream first (Kahn); None for a loop, whose number of turns is decided at run time."""
    indegree = {name: 0 for name in edges}
    for following in edges.values():
        for target in set(following):
            indegree[target] += 1
    ready = [name for name, degree in indegree.items() if degree == 0]
    order: list[str] = []
    while ready:
        name = ready.pop()
        order.append(name)
        for target in set(edges[name]):
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return order if len(order) == len(edges) else None


def _executions(tasks: dict[str, Any], edges: dict[str, list[str]], starts: list[str],
                inbound: dict[str, set[str]]) -> dict[str, int] | None:
    """Task executions per reachable task: one per arrival (Mistral runs a plain task once per inbound
    transition taken), but one in all for a join."""
    order = _topological(edges)
    if order is None:
        return None
    arrivals: dict[str, int] = {s: 1 for s in starts}
    reached_from: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = {}
    for name in order:
        join = tasks[name].get("join")
        if join is None:
            counts[name] = arrivals.get(name, 0)
        elif inbound[name] <= reached_from[name] and (join == "all" or _small_int(join, len(inbound[name]))):
            counts[name] = 1
        else:
            return None  # a join with an inbound task off the success path waits or fails at run time
        for target in edges[name]:
            arrivals[target] = arrivals.get(target, 0) + counts[name]
            reached_from[target].add(name)
    return counts


def _small_int(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit


def _action_name(task: dict[str, Any]) -> str | None:
    action = task.get("action")
    return action.split()[0] if isinstance(action, str) and action.strip() else None


def _witness_runs(task: dict[str, Any], executions: int, defaults: dict[str, Any]) -> int | None:
    """lab.witness runs of one task's SUCCESS executions; None when run time decides (with-items, a retry
    that repeats on success)."""
    if _action_name(task) != WITNESS_ACTION:
        return 0
    retry = task.get("retry", defaults.get("retry"))
    if "with-items" in task or "continue-on" in (retry if isinstance(retry, (dict, str)) else ()):
        return None
    return executions


def expected_counts(body: dict[str, Any]) -> dict[str, int]:
    """{"expected_tasks": N, "expected_actions": M} of a SUCCESS run, with only the keys that are static."""
    tasks = body.get("tasks")
    defaults = body.get("task-defaults") or {}
    if body.get("type", "direct") != "direct" or not isinstance(tasks, dict) or not tasks or \
            not all(isinstance(t, dict) for t in tasks.values()) or not isinstance(defaults, dict):
        return {}
    if any(c in defaults for c in CLAUSES):
        return {}  # default transitions join every task's own: not modelled
    inbound = _inbound(tasks)
    starts = [name for name in tasks if not inbound[name]]
    edges = _reachable(tasks, starts) if starts else None
    counts = _executions(tasks, edges, starts, inbound) if edges is not None else None
    if counts is None:
        return {}
    result = {"expected_tasks": sum(counts.values())}
    runs = [_witness_runs(tasks[name], n, defaults) for name, n in counts.items()]
    if None not in runs:
        result["expected_actions"] = sum(r for r in runs if r is not None)
    return result


def witness_tasks(body: dict[str, Any]) -> dict[str, Any]:
    """Task -> its `idempotent` input, for each task calling lab.witness (an expression stays a string)."""
    tasks = body.get("tasks")
    if not isinstance(tasks, dict):
        return {}
    found: dict[str, Any] = {}
    for name, task in tasks.items():
        if isinstance(task, dict) and _action_name(task) == WITNESS_ACTION:
            found[str(name)] = _idempotent(task)
    return found


def _idempotent(task: dict[str, Any]) -> Any:
    given = task.get("input")
    if isinstance(given, dict) and "idempotent" in given:
        value = given["idempotent"]
    else:  # the inline form: `action: lab.witness seconds=1 idempotent=true`
        inline = dict(p.split("=", 1) for p in str(task["action"]).split()[1:] if "=" in p)
        value = _scalar(inline["idempotent"]) if "idempotent" in inline else False
    return value if isinstance(value, (bool, str)) else str(value)


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# ---------------------------------------------------------------- the workload
class WorkflowWorkload(Workload):
    name = "workflow"
    description = "start a workflow from your own workflow file through every API node"
    PARAMS = {
        "file": Param("", "the Mistral v2 workflow file (required); relative paths resolve against base_dir"),
        "workflow": Param("", "the workflow to start (required; defined in the file)"),
        "input": Param({}, "the workflow input: a mapping (a YAML/JSON string on the command line)"),
        "base_dir": Param("", "directory a relative file is resolved against (a spec's own directory)"),
        "max_starts": Param(200, "upper bound on executions started", positive),
    }
    checkers = WITNESS_CHECKERS
    starts_executions = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        for required in ("file", "workflow"):
            if not self.params[required]:
                raise LabError(f"parameter {required} is required for workload workflow")
        self.path = resolve_path(str(self.params["file"]), str(self.params["base_dir"]))
        self.workflows = load_workflow_file(self.path)
        chosen = str(self.params["workflow"])
        if chosen not in self.workflows:
            raise LabError(f"workflow {chosen!r} is not in {self.path} (it defines: {', '.join(self.workflows)})")
        self.params["input"] = workflow_input(self.params["input"])
        body = self.workflows[chosen]
        check_input(chosen, body, self.params["input"])
        witnessed = witness_tasks(body)
        self.start_value: dict[str, Any] = {"workflow": chosen, "kind": "workflow", **expected_counts(body),
                                            "witness_tasks": witnessed}
        if not witnessed:  # no witness runs to judge: exactly-once (and its progress gate) would say unknown
            self.checkers = tuple(c for c in WITNESS_CHECKERS if c != "exactly-once")
        self.started = 0

    def setup(self, ctx: RunContext) -> None:
        try:
            ensure_workflows(ctx.client_for(ctx.nodes[0]), definitions(self.workflows))
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
        return start_execution(client, op, self.params["input"] or None)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "file_path": str(self.path.resolve())}


__all__ = ["WorkflowWorkload", "expected_counts", "load_workflow_file", "resolve_path", "witness_tasks",
           "workflow_input"]
