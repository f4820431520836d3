"""Eventual completion and succeeded-despite-faults.

Eventual completion: once faults heal and a settle window passes, every execution a client started - ok or
indeterminate (info) - is SUCCESS, ERROR or CANCELLED. A stuck execution is reported with its tasks' and
action executions' states, the last heartbeats and the nodes that touched it, so an operator can recover it.
If the snapshot was taken before the settle window ended, a non-terminal execution makes the verdict
"unknown", not false: Mistral was not given the time it is promised.

Succeeded-despite-faults: workflows built to succeed that ended in ERROR, counted and grouped by cause.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterable

from history.witness import WitnessRun
from history.events import FAIL, OK
from history.mistral import TERMINAL_STATES as TERMINAL
from history.mistral import default_settle_s
from history.pairing import Operation
from history.started import counts_as_started as started_rule

MAX_LISTED = 50


def counts_as_started(op: Operation) -> bool:
    """Which starts the run started (history.started, the rule the settle wait polls by too)."""
    return started_rule(op.f, op.key, op.status)


def check_completion(started: list[Operation], snapshot: dict[str, Any], runs: list[WitnessRun],
                     all_ops: Iterable[Operation], settle_s: float, quiet_since: float | None) -> dict[str, Any]:
    executions = {e["id"]: e for e in snapshot["executions"]}
    ops = list(all_ops)
    waited = None if quiet_since is None else snapshot.get("taken_at", 0.0) - quiet_since
    outcome: dict[str, list] = defaultdict(list)
    for op in _latest_per_id(started):
        ex_id = str(op.key)
        execution = executions.get(ex_id)
        if not counts_as_started(op):
            if execution is not None:
                outcome["failed_but_created"].append({"id": ex_id, "node": op.node, "error": op.error,
                                                      "state": execution["state"]})
        elif execution is None:
            outcome["lost" if op.status == OK else "never_created"].append(ex_id)
        elif execution["state"] in TERMINAL:
            outcome[execution["state"]].append(ex_id)
        elif execution["state"] == "PAUSED" and (left := client_left_paused(ex_id, ops)) is not None:
            outcome[left].append(ex_id)
        else:
            outcome["stuck"].append(ex_id)
    stuck = [_stuck_report(ex_id, snapshot, runs, ops) for ex_id in outcome["stuck"]]
    violations = bool(outcome["lost"] or outcome["failed_but_created"])
    if violations:
        valid: bool | str = False
    elif not stuck:
        valid = True
    elif waited is not None and waited >= settle_s:
        valid = False
    else:
        valid = "unknown"
    if valid is True and outcome[PAUSED_UNSURE]:
        valid = "unknown"  # a resume that may have reached Mistral: a lost one would look the same
    report: dict[str, Any] = {
        "valid": valid,
        "started": len({str(op.key) for op in started if counts_as_started(op)}),
        "terminal": {state: len(outcome[state]) for state in sorted(TERMINAL)},
        "created": sum(len(outcome[state]) for state in (*TERMINAL, PAUSED_BY_CLIENT, PAUSED_UNSURE)) + len(stuck),
        "never_created_count": len(outcome["never_created"]),
        "never_created": outcome["never_created"][:MAX_LISTED],
        "lost_count": len(outcome["lost"]),
        "lost": outcome["lost"][:MAX_LISTED],
        "failed_but_created": outcome["failed_but_created"][:MAX_LISTED],
        PAUSED_BY_CLIENT: outcome[PAUSED_BY_CLIENT][:MAX_LISTED],
        PAUSED_UNSURE: outcome[PAUSED_UNSURE][:MAX_LISTED],
        "stuck_count": len(stuck),
        "stuck": stuck[:MAX_LISTED],
        "settle_s": settle_s,
        "waited_s": None if waited is None else round(waited, 3),
    }
    if valid == "unknown" and not stuck:
        report["reason"] = (f"{len(outcome[PAUSED_UNSURE])} execution(s) PAUSED by their client, whose resume "
                            "may have reached Mistral (an indeterminate answer): whether Mistral lost it is unknown")
    elif valid == "unknown" and waited is None:
        report["reason"] = (f"{len(stuck)} execution(s) not terminal, and the settle wait never finished "
                            "(the run was interrupted or cut short): Mistral was not given its window")
    elif valid == "unknown":
        report["reason"] = (f"{len(stuck)} execution(s) not terminal, but the snapshot was taken "
                            f"{waited if waited is None else round(waited, 1)} s after the last fault/op, "
                            f"before the settle window of {settle_s:g} s ended")
    elif outcome["lost"]:
        report["reason"] = f"{len(outcome['lost'])} acknowledged start(s) unknown to Mistral"
    elif outcome["failed_but_created"]:
        report["reason"] = f"{len(outcome['failed_but_created'])} start(s) that failed exist in Mistral"
    elif stuck:
        report["reason"] = f"{len(stuck)} execution(s) still not terminal {round(waited or 0, 1)} s after the " \
                           f"last fault (settle window {settle_s:g} s)"
    return report


# A PAUSED execution is waiting for its user, not stuck, when its client paused it and no resume after that
# reached Mistral: every later resume failed, or never left the client (no connection was made).
PAUSED_BY_CLIENT, PAUSED_UNSURE = "paused_by_client", "paused_resume_unknown"
NEVER_SENT = ("NewConnectionError", "Connection refused")
CONTROL = ("pause", "resume", "cancel")


def client_left_paused(ex_id: str, ops: list[Operation]) -> str | None:
    """PAUSED_BY_CLIENT, PAUSED_UNSURE (a resume after the last acknowledged pause got an indeterminate answer),
    or None: no acknowledged pause (Mistral paused it), or a resume after it was acknowledged - then it is stuck."""
    control = sorted((op for op in ops if str(op.key) == ex_id and op.f in CONTROL), key=lambda op: op.call_time)
    paused_at = [i for i, op in enumerate(control) if op.f == "pause" and op.status == OK]
    if not paused_at:
        return None
    resumes = [op for op in control[paused_at[-1] + 1:] if op.f == "resume"]
    if any(op.status == OK for op in resumes):
        return None
    unsure = [op for op in resumes if op.status not in (OK, FAIL) and not any(m in str(op.error) for m in NEVER_SENT)]
    return PAUSED_UNSURE if unsure else PAUSED_BY_CLIENT


def _latest_per_id(started: list[Operation]) -> list[Operation]:
    """One op per execution id: a non-fail start wins over a fail (an id may be started more than once)."""
    chosen: dict[str, Operation] = {}
    for op in started:
        current = chosen.get(str(op.key))
        if current is None or (not counts_as_started(current) and counts_as_started(op)):
            chosen[str(op.key)] = op
    return list(chosen.values())


def _stuck_report(ex_id: str, snapshot: dict[str, Any], runs: list[WitnessRun],
                  all_ops: Iterable[Operation]) -> dict[str, Any]:
    execution = next(e for e in snapshot["executions"] if e["id"] == ex_id)
    tasks = [t for t in snapshot["tasks"] if t.get("workflow_execution_id") == ex_id]
    task_ids = {t["id"] for t in tasks}
    actions = [a for a in snapshot["action_executions"] if a.get("task_execution_id") in task_ids]
    beats = sorted(a["last_heartbeat"] for a in actions if a.get("last_heartbeat"))
    executors = sorted({r.executor for r in runs if r.workflow_execution_id == ex_id and r.executor})
    apis = sorted({op.node for op in all_ops if str(op.key) == ex_id and op.node})
    return {
        "id": ex_id, "workflow": execution.get("workflow_name"), "state": execution.get("state"),
        "state_info": execution.get("state_info"), "created_at": execution.get("created_at"),
        "updated_at": execution.get("updated_at"),
        "tasks": [{"id": t["id"], "name": t.get("name"), "state": t.get("state"),
                   "state_info": t.get("state_info"), "updated_at": t.get("updated_at")} for t in tasks],
        "action_executions": [{"id": a["id"], "task_execution_id": a.get("task_execution_id"),
                               "state": a.get("state"), "state_info": a.get("state_info"),
                               "last_heartbeat": a.get("last_heartbeat"), "updated_at": a.get("updated_at")}
                              for a in actions],
        "last_heartbeat": beats[-1] if beats else None,
        "nodes": {"api": apis, "executors": executors},
        "unfinished_witness_runs": sum(1 for r in runs if r.workflow_execution_id == ex_id and not r.completed),
    }


# ---------------------------------------------------------------- succeeded despite faults
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")


def normalise_cause(text: str | None) -> str:
    """A cause that groups: the first meaningful line, ids and numbers blanked out."""
    if not text:
        return "unknown (no state_info)"
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = lines[0] if lines else str(text)
    line = _NUMBER.sub("N", _UUID.sub("<id>", line))
    return line[:200]


def _cause(execution: dict[str, Any], tasks: list[dict], actions: list[dict]) -> str:
    """The deepest failure: an ERROR action's state_info, else an ERROR task's, else the execution's."""
    for action in actions:
        if action.get("state") == "ERROR" and action.get("state_info"):
            return normalise_cause(action["state_info"])
    for task in tasks:
        if task.get("state") == "ERROR" and task.get("state_info"):
            return normalise_cause(task["state_info"])
    return normalise_cause(execution.get("state_info"))


def check_succeeded(started: list[Operation], snapshot: dict[str, Any]) -> dict[str, Any]:
    """Executions built to succeed (every start unless its value says {"expect": "ERROR"}) that ended in ERROR."""
    built_to_succeed = {str(op.key) for op in started if counts_as_started(op)
                        and not (isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR")}
    executions = [e for e in snapshot["executions"] if e["id"] in built_to_succeed]
    tasks_by_ex: dict[str, list[dict]] = defaultdict(list)
    for task in snapshot["tasks"]:
        tasks_by_ex[task.get("workflow_execution_id")].append(task)
    actions_by_task: dict[str, list[dict]] = defaultdict(list)
    for action in snapshot["action_executions"]:
        actions_by_task[action.get("task_execution_id")].append(action)
    causes: dict[str, list[str]] = defaultdict(list)
    for execution in executions:
        if execution["state"] != "ERROR":
            continue
        tasks = tasks_by_ex[execution["id"]]
        actions = [a for t in tasks for a in actions_by_task[t["id"]]]
        causes[_cause(execution, tasks, actions)].append(execution["id"])
    errored = sum(len(ids) for ids in causes.values())
    states = defaultdict(int)
    for execution in executions:
        states[execution["state"]] += 1
    report: dict[str, Any] = {
        "valid": errored == 0,
        "built_to_succeed": len(built_to_succeed),
        "states": dict(sorted(states.items())),
        "errored": errored,
        "causes": {cause: {"count": len(ids), "executions": ids[:20]}
                   for cause, ids in sorted(causes.items(), key=lambda kv: -len(kv[1]))},
    }
    if errored:
        top = max(causes.items(), key=lambda kv: len(kv[1]))
        report["reason"] = f"{errored} execution(s) built to succeed ended in ERROR; most common cause: {top[0]!r}"
    return report


__all__ = ["check_completion", "counts_as_started", "check_succeeded", "default_settle_s", "normalise_cause"]
