"""Making recover's calls: each only after its precondition still holds, each one recorded.

Mistral keeps moving while recover runs (an action's result may arrive, a sub-workflow's failure reaches its
parent), so every call first re-reads what it is about to change:

- `action-running`: the action execution is still RUNNING (a result that arrived meanwhile is never overwritten);
- `task-error`: the task is in ERROR, the only state Mistral reruns from (after failing its action, waited for);
- `execution-unchanged`: the execution is not terminal and its updated_at is the one inspect saw; when one of
  its sub-workflows was failed in this run, Mistral is first given `wait_s` to hand that failure up, and a
  parent that moved is left to Mistral.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from cluster.errors import LabError
from cluster.mistral_api import APIException, api_error
from history.mistral import TERMINAL_STATES
from lab.operators.api import Mistral
from lab.operators.plan import Call, Plan


class Applier:
    def __init__(self, mistral: Mistral, wait_s: float = 60.0, poll_s: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.mistral, self.wait_s, self.poll_s, self.sleep, self.clock = mistral, wait_s, poll_s, sleep, clock
        self.changed: set[str] = set()  # executions this run made a call about

    def run(self, plan: Plan) -> list[dict[str, Any]]:
        """Every call's outcome: made (ok or refused by Mistral), skipped (precondition) or not attempted."""
        records: list[dict[str, Any]] = []
        for index, call in enumerate(plan.calls):
            try:
                records.append(self._one(call))
            except LabError as exc:  # the API went away: say what was and was not done, then stop
                records.append({**call.as_json(), "made": False, "outcome": "error", "error": str(exc)})
                records += [{**c.as_json(), "made": False, "outcome": "not attempted"} for c in plan.calls[index + 1:]]
                break
        return records

    def _one(self, call: Call) -> dict[str, Any]:
        entry: dict[str, Any] = {**call.as_json(), "made": False}
        holds, seen = self._check(call.precondition)
        entry["precondition_seen"] = seen
        if not holds:
            return {**entry, "outcome": "skipped"}
        try:
            answer = self.mistral.put(call.path, call.body)
        except APIException as exc:
            return {**entry, "made": True, "outcome": "refused", "error": str(api_error(exc))}
        self.changed.add(call.execution_id)
        return {**entry, "made": True, "outcome": "ok", "answer_state": (answer or {}).get("state")}

    def _check(self, pre: dict[str, Any]) -> tuple[bool, str]:
        kind = pre.get("kind")
        if kind == "action-running":
            state = self.mistral.get("action_executions", pre["id"]).get("state")
            return state == "RUNNING", f"action execution {pre['id']} is {state}"
        if kind == "task-error":
            task = self._poll("tasks", pre["id"], lambda t: t.get("state") == "ERROR", bool(pre.get("wait")))
            return task.get("state") == "ERROR", f"task {pre['id']} is {task.get('state')}"
        if kind == "execution-unchanged":
            return self._execution_unchanged(pre)
        return True, "no precondition"

    def _execution_unchanged(self, pre: dict[str, Any]) -> tuple[bool, str]:
        def moved(ex: dict[str, Any]) -> bool:
            return ex.get("state") in TERMINAL_STATES or ex.get("updated_at") != pre.get("updated_at")

        wait = any(child in self.changed for child in pre.get("sub_workflows") or [])
        execution = self._poll("executions", pre["id"], moved, wait)
        if execution.get("state") in TERMINAL_STATES:
            return False, f"execution {pre['id']} is already {execution.get('state')}"
        if execution.get("updated_at") != pre.get("updated_at"):
            return False, (f"execution {pre['id']} moved since inspect (updated_at {pre.get('updated_at')} -> "
                           f"{execution.get('updated_at')}): left to Mistral")
        return True, f"execution {pre['id']} still {execution.get('state')}, unchanged"

    def _poll(self, collection: str, item_id: str, done: Callable[[dict[str, Any]], bool],
              wait: bool) -> dict[str, Any]:
        deadline = self.clock() + (self.wait_s if wait else 0.0)
        while True:
            row = self.mistral.get(collection, item_id)
            if done(row) or self.clock() >= deadline:
                return row
            self.sleep(self.poll_s)


__all__ = ["Applier"]
