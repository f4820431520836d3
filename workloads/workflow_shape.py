"""What a SUCCESS run of a user's workflow must do, computed from its file where the file fixes it.

A direct workflow whose success path has no conditions gives `expected_tasks` (task executions) and
`expected_actions` (lab.witness runs); a reverse workflow gives them for its target task, whose `requires`
closure runs each task once. Anything the file leaves to run time (a condition, with-items, an on-error
handler, a loop, a join off the success path...) leaves the key out rather than guess. `witness_tasks` names
the tasks calling lab.witness and their `idempotent` input: those are what the exactly-once checker judges.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import yaml

WITNESS_ACTION = "lab.witness"
ENDING_COMMANDS = ("fail", "succeed", "pause")  # Mistral's reserved targets besides noop: they stop the graph
ADVANCED_CLAUSE = {"publish", "next"}           # on-success: {publish: ..., next: [...]}
SUCCESS_CLAUSES = ("on-success", "on-complete")  # followed when a task succeeds
CLAUSES = (*SUCCESS_CLAUSES, "on-error")
INBOUND_CLAUSES = (*CLAUSES, "on-skip")  # Mistral 23 counts on-skip targets as inbound: they are no start tasks


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
        for clause in INBOUND_CLAUSES:
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


def expected_counts(body: dict[str, Any], task_name: str | None = None) -> dict[str, int]:
    """{"expected_tasks": N, "expected_actions": M} of a SUCCESS run, with only the keys that are static;
    `task_name` is a reverse workflow's target (params.task_name)."""
    tasks = body.get("tasks")
    defaults = body.get("task-defaults") or {}
    if not isinstance(tasks, dict) or not tasks or not all(isinstance(t, dict) for t in tasks.values()) or \
            not isinstance(defaults, dict):
        return {}
    kind = body.get("type", "direct")
    if kind == "reverse":
        counts = _reverse_executions(tasks, defaults, task_name)
    elif kind == "direct":
        counts = _direct_executions(tasks, defaults)
    else:
        return {}
    if counts is None:
        return {}
    result = {"expected_tasks": sum(counts.values())}
    runs = [_witness_runs(tasks[name], n, defaults) for name, n in counts.items()]
    if None not in runs:
        result["expected_actions"] = sum(r for r in runs if r is not None)
    return result


def _direct_executions(tasks: dict[str, Any], defaults: dict[str, Any]) -> dict[str, int] | None:
    """Task executions per task of a direct workflow's SUCCESS run; None when run time decides."""
    if any(c in defaults for c in INBOUND_CLAUSES):
        return None  # default transitions join every task's own: not modelled
    inbound = _inbound(tasks)
    starts = [name for name in tasks if not inbound[name]]
    edges = _reachable(tasks, starts) if starts else None
    return _executions(tasks, edges, starts, inbound) if edges is not None else None


def _requires(task: dict[str, Any], defaults: dict[str, Any]) -> list[str] | None:
    """A reverse task's dependencies, task-defaults' included (Mistral's get_task_requires); None if unreadable."""
    found: list[str] = []
    for given in (task.get("requires"), defaults.get("requires")):
        if isinstance(given, str):
            given = [given]
        if given is None:
            continue
        if not isinstance(given, list) or not all(isinstance(name, str) for name in given):
            return None
        found += given
    return found


def _reverse_executions(tasks: dict[str, Any], defaults: dict[str, Any],
                        target: str | None) -> dict[str, int] | None:
    """One task execution per task the target needs (the `requires` closure, the target included): a reverse
    workflow has no conditions, and any failed task fails the run."""
    if target not in tasks:
        return None
    needed: dict[str, int] = {}
    stack = [target]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        requires = _requires(tasks[name], defaults)
        if requires is None or any(r not in tasks for r in requires):
            return None
        needed[name] = 1
        stack.extend(r for r in requires if r != name)  # Mistral drops a task's own name from its requires
    return needed


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
