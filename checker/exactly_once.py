"""Exactly-once: every action execution ran at most once, and Mistral's view matches the witness's.

Judged from the witness log (every physical run of `lab.witness`) against the Mistral snapshot:
- redelivered: one action execution ran more than once (the broker redelivered its message);
- task-rerun: several action executions ran for one task run (same task execution and with-items item) -
  a retry or a rerun after a lost heartbeat; legal only if the action is idempotent;
- missing: Mistral reports an action execution (of a task it reports SUCCESS) as SUCCESS, yet no run
  of it completed according to the witness;
- phantom: the witness saw a run of an action execution Mistral does not know.
Runs that started but never ended (an executor died mid-action) are reported as interrupted, not as errors.
Only witness records of the run's own workflow executions are judged: one witness log may span many runs.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from history.witness import WitnessRun

WITNESS_ACTION = "lab.witness"
MAX_LISTED = 50  # per finding kind; counts are always complete


def _item_of(action: dict[str, Any]) -> Any:
    """The with-items item of an action execution, from its input (Mistral's API has no index field)."""
    raw = action.get("input")
    if isinstance(raw, str):
        import json

        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw.get("item") if isinstance(raw, dict) else None


def check_exactly_once(runs: list[WitnessRun], snapshot: dict[str, Any],
                       started_ids: Iterable[str] = ()) -> dict[str, Any]:
    scope = set(started_ids) | {e["id"] for e in snapshot["executions"]}
    tasks = {t["id"]: t for t in snapshot["tasks"] if t.get("workflow_execution_id") in scope}
    actions = {a["id"]: a for a in snapshot["action_executions"] if a.get("task_execution_id") in tasks}
    mine = [r for r in runs if r.workflow_execution_id in scope]
    by_action: dict[str, list[WitnessRun]] = defaultdict(list)
    for run in mine:
        by_action[str(run.action_execution_id)].append(run)

    duplicates = _redelivered(by_action) + _task_reruns(mine, actions, tasks)
    # A run that started after the snapshot was taken (an interrupted run, still moving) is not a phantom: its
    # action execution simply came later. Mistral creates an action execution before an executor runs it.
    taken_at = snapshot.get("taken_at")
    late = [r for r in mine if r.action_execution_id not in actions and _after(r, taken_at)]
    phantoms = [_phantom(run) for run in mine if run.action_execution_id not in actions and not _after(run, taken_at)]
    missing = _missing(by_action, actions, tasks)
    interrupted = [{"action_execution_id": r.action_execution_id, "task": r.label, **r.summary()}
                   for r in mine if not r.completed]
    illegal = [d for d in duplicates if not d["legal"]]
    return {
        "valid": not illegal and not phantoms and not missing,
        "runs": len(mine),
        "completed_runs": sum(1 for r in mine if r.completed),
        "action_executions": len(actions),
        "duplicates": duplicates[:MAX_LISTED],
        "duplicate_count": {"redelivered": sum(d["kind"] == "redelivered" for d in duplicates),
                            "task-rerun": sum(d["kind"] == "task-rerun" for d in duplicates),
                            "illegal": len(illegal)},
        "phantoms": phantoms[:MAX_LISTED],
        "phantom_count": len(phantoms),
        "started_after_snapshot": len(late),
        "missing": missing[:MAX_LISTED],
        "missing_count": len(missing),
        "interrupted": interrupted[:MAX_LISTED],
        "interrupted_count": len(interrupted),
        "ignored_records_outside_run": len(runs) - len(mine),
    }


def _after(run: WitnessRun, taken_at: Any, margin_s: float = 1.0) -> bool:
    return isinstance(taken_at, (int, float)) and run.start_time is not None and run.start_time > taken_at - margin_s


def _redelivered(by_action: dict[str, list[WitnessRun]]) -> list[dict[str, Any]]:
    found = []
    for action_id, runs in sorted(by_action.items()):
        if len(runs) < 2:
            continue
        idempotent = all(r.idempotent for r in runs)
        found.append({"kind": "redelivered", "action_execution_id": action_id,
                      "task_execution_id": runs[0].task_execution_id,
                      "workflow_execution_id": runs[0].workflow_execution_id, "task": runs[0].label,
                      "item": runs[0].item, "idempotent": idempotent, "legal": idempotent,
                      "runs": [r.summary() for r in runs]})
    return found


def _task_reruns(runs: list[WitnessRun], actions: dict[str, dict], tasks: dict[str, dict]) -> list[dict[str, Any]]:
    by_task_run: dict[tuple[str, str], dict[str, list[WitnessRun]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        item = run.item if run.item is not None else _item_of(actions.get(str(run.action_execution_id), {}))
        by_task_run[(str(run.task_execution_id), repr(item))][str(run.action_execution_id)].append(run)
    found = []
    for (task_id, item), per_action in sorted(by_task_run.items()):
        if len(per_action) < 2:
            continue
        all_runs = [r for rs in per_action.values() for r in rs]
        idempotent = all(r.idempotent for r in all_runs)
        task = tasks.get(task_id, {})
        found.append({"kind": "task-rerun", "task_execution_id": task_id,
                      "workflow_execution_id": all_runs[0].workflow_execution_id,
                      "task": task.get("name", all_runs[0].label), "item": all_runs[0].item,
                      "idempotent": idempotent, "legal": idempotent,
                      "action_executions": {aid: {"mistral_state": actions.get(aid, {}).get("state"),
                                                  "runs": [r.summary() for r in rs]}
                                            for aid, rs in sorted(per_action.items())}})
    return found


def _phantom(run: WitnessRun) -> dict[str, Any]:
    return {"action_execution_id": run.action_execution_id, "task_execution_id": run.task_execution_id,
            "workflow_execution_id": run.workflow_execution_id, "task": run.label, **run.summary(),
            "reason": "the witness saw this action execution run, but Mistral does not know it"}


def _missing(by_action: dict[str, list[WitnessRun]], actions: dict[str, dict],
             tasks: dict[str, dict]) -> list[dict[str, Any]]:
    found = []
    by_task: dict[str, list[dict]] = defaultdict(list)
    for action in actions.values():
        by_task[action["task_execution_id"]].append(action)
    for task_id, task in sorted(tasks.items()):
        if task.get("state") != "SUCCESS" or task.get("type", "ACTION") != "ACTION":
            continue
        witnessed = [a for a in by_task.get(task_id, []) if a.get("name") == WITNESS_ACTION]
        if not by_task.get(task_id):
            found.append(_missing_entry(task, None, "the task is SUCCESS but has no action execution"))
        for action in witnessed:
            if action.get("state") != "SUCCESS":
                continue
            if not any(r.completed for r in by_action.get(action["id"], [])):
                found.append(_missing_entry(task, action["id"], "Mistral says SUCCESS but the witness saw "
                                            "no completed run of this action execution"))
    return found


def _missing_entry(task: dict, action_id: str | None, reason: str) -> dict[str, Any]:
    return {"task_execution_id": task["id"], "task": task.get("name"),
            "workflow_execution_id": task.get("workflow_execution_id"), "action_execution_id": action_id,
            "reason": reason}


__all__ = ["check_exactly_once", "WITNESS_ACTION"]
