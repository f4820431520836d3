"""What cannot finish by itself, from Mistral's own records alone: the rules behind `mistral-lab inspect`.

Input is a snapshot shaped like the lab's `mistral-snapshot.json` (executions, tasks and action executions as
Mistral's REST API returns them, plus `taken_at`), so the same rules judge a live deployment read through the
API and a stored lab run. Nothing here reads a clock or the network: `now` is given.

The rules (docs/operators.md#the-rules), each chosen so that a slow but healthy action is never called stuck:

- A RUNNING action execution is *expired* once Mistral's own heartbeat check must already have failed it:
  `now > last_heartbeat + heartbeat_window + CHECKER_SLACK_S`. Mistral initialises `last_heartbeat` to
  `created_at + first_heartbeat_timeout` and moves it on every heartbeat. The REST API does not expose it, but
  the heartbeat's UPDATE also moves `updated_at` (SQLAlchemy's onupdate), so without the real value
  `max(updated_at, created_at + first_heartbeat_timeout)` is used: never earlier than the real one.
- A non-terminal workflow execution is *stuck* when nothing in it is live - no RUNNING action that is not
  expired, no task waiting by design (DELAYED, RUNNING_DELAYED), no live sub-workflow - and nothing in it
  (the execution, its tasks, its RUNNING actions, its sub-workflows) changed for longer than `quiet_s`.
  Its kind is the lab's (checker.anomalies.stuck_kind): waiting-join, running-action, idle-task,
  unfinished-workflow, running-task. PAUSED executions are someone's decision: listed only on request.
- A task in ERROR whose state_info is Mistral's heartbeat failure or a kombu redelivery refusal is an
  *abandoned action*: its action was failed because its executor was lost, not because it failed.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from checker.anomalies import HEARTBEAT, REDELIVERED, stuck_kind
from history.mistral import MISTRAL_DEFAULTS, TERMINAL_STATES, mistral_time

RUNNING, PAUSED, ERROR = "RUNNING", "PAUSED", "ERROR"
WAITING_BY_DESIGN = frozenset({"DELAYED", "RUNNING_DELAYED"})  # wait-before/after, retry delay: a scheduled job
# One more pass of the heartbeat checker (check_interval) plus Mistral's 1 s timestamp resolution: the checker
# fails an expired action on its next pass, not the instant the window closes.
CHECKER_SLACK_S = MISTRAL_DEFAULTS[("action_heartbeat", "check_interval")] + 2.0
ABANDONED_KINDS = ((HEARTBEAT, "heartbeat"), (REDELIVERED, "redelivered"))


@dataclass(frozen=True)
class Thresholds:
    """Mistral's own failure detection as the deployment is configured (the API exposes none of it)."""

    heartbeat_window_s: float = (MISTRAL_DEFAULTS[("action_heartbeat", "check_interval")]
                                 * MISTRAL_DEFAULTS[("action_heartbeat", "max_missed_heartbeats")])
    first_heartbeat_timeout_s: float = MISTRAL_DEFAULTS[("action_heartbeat", "first_heartbeat_timeout")]
    quiet_s: float = 300.0  # --older-than: longer than every engine-side repair (integrity check, RPC timeout)
    include_paused: bool = False

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "checker_slack_s": CHECKER_SLACK_S}


class Snapshot:
    """The snapshot indexed: executions by id, tasks per execution, RUNNING actions per task, children."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.executions = {e["id"]: e for e in snapshot.get("executions") or []}
        self.tasks = {t["id"]: t for t in snapshot.get("tasks") or []}
        self.tasks_of: dict[str, list[dict]] = defaultdict(list)
        for task in self.tasks.values():
            self.tasks_of[task.get("workflow_execution_id")].append(task)
        self.actions_of: dict[str, list[dict]] = defaultdict(list)
        for action in snapshot.get("action_executions") or []:
            self.actions_of[action.get("task_execution_id")].append(action)
        self.children_of: dict[str, list[dict]] = defaultdict(list)
        for execution in self.executions.values():
            parent_task = self.tasks.get(execution.get("task_execution_id") or "")
            if parent_task:
                self.children_of[parent_task.get("workflow_execution_id")].append(execution)

    def running_actions(self, execution_id: str) -> list[dict]:
        return [a for t in self.tasks_of[execution_id] for a in self.actions_of[t["id"]] if a.get("state") == RUNNING]

    def depth(self, execution: dict[str, Any]) -> int:
        """0 for a root execution, 1 for its sub-workflow, ... (as far as the snapshot knows the parents)."""
        depth, seen = 0, set()
        while execution and execution.get("task_execution_id") and execution["id"] not in seen:
            seen.add(execution["id"])
            parent_task = self.tasks.get(execution["task_execution_id"])
            execution = self.executions.get(parent_task.get("workflow_execution_id")) if parent_task else None
            depth += 1
        return depth


def heartbeat_bound(action: dict[str, Any], thresholds: Thresholds) -> tuple[float | None, str]:
    """The latest `last_heartbeat` the action can have (epoch s) and where it comes from."""
    known = mistral_time(action.get("last_heartbeat"))
    if known is not None:
        return known, "last_heartbeat"
    created, updated = mistral_time(action.get("created_at")), mistral_time(action.get("updated_at"))
    if created is None:
        return None, "unknown"  # no creation time, no first-heartbeat allowance: never called expired
    first = created + thresholds.first_heartbeat_timeout_s  # Mistral's initial value of last_heartbeat
    return (max(first, updated) if updated is not None else first), "inferred"


def action_overdue(action: dict[str, Any], now: float, thresholds: Thresholds) -> float | None:
    """Seconds since Mistral's heartbeat check should have failed this RUNNING action, or None if it still may
    be alive (or its times are unreadable: then it is never called expired)."""
    bound, _ = heartbeat_bound(action, thresholds)
    if bound is None:
        return None
    overdue = now - (bound + thresholds.heartbeat_window_s)
    return overdue if overdue > CHECKER_SLACK_S else None


def _action_evidence(action: dict[str, Any], now: float, thresholds: Thresholds) -> dict[str, Any]:
    bound, source = heartbeat_bound(action, thresholds)
    overdue = action_overdue(action, now, thresholds)
    return {"id": action["id"], "name": action.get("name"), "task_execution_id": action.get("task_execution_id"),
            "state": action.get("state"), "created_at": action.get("created_at"),
            "updated_at": action.get("updated_at"), "last_heartbeat": action.get("last_heartbeat"),
            "last_heartbeat_bound": _iso(bound), "last_heartbeat_source": source,
            "expired": overdue is not None, "overdue_s": None if overdue is None else round(overdue, 1)}


def _task_evidence(task: dict[str, Any]) -> dict[str, Any]:
    return {"id": task["id"], "name": task.get("name"), "type": task.get("type"), "state": task.get("state"),
            "state_info": _short(task.get("state_info")), "updated_at": task.get("updated_at"),
            "with_items": is_with_items(task)}


def is_with_items(task: dict[str, Any]) -> bool:
    """A with-items task keeps `with_items` in its runtime_context (a JSON string in the REST API)."""
    context = task.get("runtime_context")
    if isinstance(context, str):
        try:
            context = json.loads(context or "{}")
        except ValueError:
            return False
    return isinstance(context, dict) and "with_items" in context


class _Judge:
    """Per-execution liveness and last change, memoised (a parent asks about its sub-workflows)."""

    def __init__(self, snap: Snapshot, now: float, thresholds: Thresholds) -> None:
        self.snap, self.now, self.thresholds = snap, now, thresholds
        self.memo: dict[str, tuple[bool, float | None]] = {}

    def live_and_last_change(self, execution: dict[str, Any]) -> tuple[bool, float | None]:
        ex_id = execution["id"]
        if ex_id in self.memo:
            return self.memo[ex_id]
        self.memo[ex_id] = (True, None)  # a cycle in broken data counts as live: never flagged on it
        tasks = self.snap.tasks_of[ex_id]
        actions = self.snap.running_actions(ex_id)
        times = [mistral_time(x.get("updated_at")) for x in (execution, *tasks, *actions)]
        live = any(t.get("state") in WAITING_BY_DESIGN for t in tasks)
        live = live or any(action_overdue(a, self.now, self.thresholds) is None for a in actions)
        for child in self.snap.children_of[ex_id]:
            if child.get("state") in TERMINAL_STATES:
                continue
            child_live, child_change = self.live_and_last_change(child)
            live = live or child_live
            times.append(child_change)
        known = [t for t in times if t is not None]
        self.memo[ex_id] = (live, max(known) if known else None)
        return self.memo[ex_id]


def find_stuck(snapshot: dict[str, Any], now: float, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Every non-terminal execution that cannot finish by itself, deepest sub-workflows first."""
    snap = Snapshot(snapshot)
    judge = _Judge(snap, now, thresholds)
    wanted = {RUNNING, "IDLE"} | ({PAUSED} if thresholds.include_paused else set())
    found = []
    for execution in snap.executions.values():
        if execution.get("state") not in wanted:
            continue
        live, last_change = judge.live_and_last_change(execution)
        if live or last_change is None or now - last_change <= thresholds.quiet_s:
            continue
        found.append(_stuck_item(snap, execution, last_change, now, thresholds))
    return sorted(found, key=lambda item: (-item["depth"], item["since"] or "", item["execution_id"]))


def _stuck_item(snap: Snapshot, execution: dict[str, Any], last_change: float, now: float,
                thresholds: Thresholds) -> dict[str, Any]:
    ex_id = execution["id"]
    tasks = snap.tasks_of[ex_id]
    actions = snap.running_actions(ex_id)
    kind = "paused" if execution.get("state") == PAUSED else stuck_kind({"tasks": tasks, "action_executions": actions})
    children = [c["id"] for c in snap.children_of[ex_id] if c.get("state") not in TERMINAL_STATES]
    beats = sorted(a["last_heartbeat"] for a in actions if a.get("last_heartbeat"))
    waiting = [t.get("name") for t in tasks if t.get("state") == "WAITING"]
    summary = (f"execution {ex_id} ({execution.get('workflow_name')}) {execution.get('state')}, nothing moved "
               f"for {_duration(now - last_change)}: {kind}"
               + (f" ({', '.join(map(str, waiting))} waiting)" if waiting else "")
               + (f", {len(actions)} action(s) past the heartbeat window" if actions else ""))
    return {
        "class": "stuck-execution", "kind": kind, "summary": summary,
        "execution_id": ex_id, "root_execution_id": execution.get("root_execution_id") or ex_id,
        "parent_task_execution_id": execution.get("task_execution_id"), "depth": snap.depth(execution),
        "workflow": execution.get("workflow_name"), "state": execution.get("state"),
        "since": _iso(last_change), "for_s": round(now - last_change, 1),
        "task_execution_ids": [t["id"] for t in tasks], "action_execution_ids": [a["id"] for a in actions],
        "evidence": {
            "state_info": _short(execution.get("state_info")), "created_at": execution.get("created_at"),
            "updated_at": execution.get("updated_at"), "tasks": [_task_evidence(t) for t in tasks],
            "running_actions": [_action_evidence(a, now, thresholds) for a in actions],
            "sub_workflows_not_terminal": children,
            "last_heartbeat": beats[-1] if beats else None,
            # Mistral 23's REST API names no engine or executor host; the lab's witness does (lab runs only).
            "nodes": None,
        },
    }


def find_abandoned(snapshot: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Every task in ERROR because its action's executor was lost (heartbeat, or a kombu redelivery)."""
    snap = Snapshot(snapshot)
    found = []
    for task in snap.tasks.values():
        info = str(task.get("state_info") or "")
        kind = next((k for text, k in ABANDONED_KINDS if text in info), None)
        if task.get("state") != ERROR or kind is None:
            continue
        execution = snap.executions.get(task.get("workflow_execution_id"), {})
        actions = [a for a in snap.actions_of[task["id"]] if a.get("state") == ERROR]
        since = mistral_time(task.get("updated_at"))
        by = "the heartbeat check" if kind == "heartbeat" else "its executor on redelivery (kombu)"
        found.append({
            "class": "abandoned-action", "kind": kind,
            "summary": (f"task {task.get('name')} of execution {task.get('workflow_execution_id')} "
                        f"({execution.get('state', '?')}) was failed by {by}: its action may or may not have run"),
            "execution_id": task.get("workflow_execution_id"),
            "root_execution_id": execution.get("root_execution_id") or task.get("workflow_execution_id"),
            "parent_task_execution_id": execution.get("task_execution_id"), "depth": snap.depth(execution),
            "workflow": execution.get("workflow_name") or task.get("workflow_name"),
            "state": execution.get("state"), "since": _iso(since),
            "for_s": None if since is None else round(now - since, 1),
            "task_execution_ids": [task["id"]], "action_execution_ids": [a["id"] for a in actions],
            "evidence": {"state_info": _short(info), "task": _task_evidence(task),
                         "failed_actions": [{"id": a["id"], "name": a.get("name"), "state": a.get("state"),
                                             "created_at": a.get("created_at"), "updated_at": a.get("updated_at"),
                                             "last_heartbeat": a.get("last_heartbeat")} for a in actions],
                         "nodes": None},
        })
    return sorted(found, key=lambda item: (-item["depth"], item["since"] or "", item["execution_id"] or ""))


def inspect_snapshot(snapshot: dict[str, Any], now: float, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Everything `inspect` lists: stuck executions, then abandoned actions."""
    return find_stuck(snapshot, now, thresholds) + find_abandoned(snapshot, now)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _short(text: Any, limit: int = 300) -> str | None:
    return None if text is None else " ".join(str(text).split())[:limit]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["CHECKER_SLACK_S", "Thresholds", "action_overdue", "find_abandoned", "find_stuck", "heartbeat_bound",
           "inspect_snapshot", "is_with_items"]
