"""What `recover` would do for each item `inspect` lists: the calls Mistral 23's API allows, chosen so that no
action runs again unless the operator allowed that action execution (`--allow-rerun`).

Pure: items in, calls out. The calls and why (docs/operators.md#what-recover-does):

- A RUNNING action past its heartbeat window is never failed on its own: failing it hands it to its task's
  retry policy and on-error transitions, which can run it again. With `--allow-rerun ACTION` it is failed
  (`PUT /v2/action_executions/<id>` state ERROR) and then its task is rerun (`PUT /v2/tasks/<id>` state
  RUNNING, reset). With `--complete ACTION=JSON` the operator says it did finish: it is set SUCCESS with that
  output and the engine carries on as if the result had arrived.
- A stuck execution nobody took charge of that way is failed (`PUT /v2/executions/<id>` state ERROR, with a
  state_info saying why): terminal, and nothing of it runs again. Sub-workflows go first (Mistral hands their
  failure to the parent), and each fail is made only if the execution did not move since it was inspected.
- An abandoned action (a task failed for a lost executor) is already terminal: its task is rerun only with
  `--allow-rerun` for every action the rerun would run again (a with-items task reruns its failed items only:
  reset false; a regular task is reset).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

STATE_INFO_PREFIX = "mistral-lab recover"


@dataclass
class Call:
    """One HTTP call recover would make, and the check made right before it (`precondition`)."""

    method: str
    path: str
    body: dict[str, Any]
    why: str
    execution_id: str
    precondition: dict[str, Any] = field(default_factory=dict)  # {"kind", "id", ...}; see lab.operators.apply

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.method} {self.path} {json.dumps(self.body)}"  # the very bytes Mistral.put sends


@dataclass
class Plan:
    calls: list[Call]
    notes: list[str]  # what recover leaves alone, and why

    def as_json(self) -> dict[str, Any]:
        return {"calls": [c.as_json() for c in self.calls], "notes": self.notes}


def parse_completions(values: Iterable[str]) -> dict[str, Any]:
    """`--complete ID=JSON` (or just ID: output null) -> {action execution id: output}; ValueError if bad."""
    completions: dict[str, Any] = {}
    for value in values:
        action_id, sep, text = value.partition("=")
        if not action_id.strip():
            raise ValueError(f"--complete {value!r}: expected ACTION_EXECUTION_ID[=JSON]")
        try:
            completions[action_id.strip()] = json.loads(text) if sep else None
        except ValueError:
            raise ValueError(f"--complete {value!r}: the output after '=' must be JSON") from None
    return completions


def plan_recovery(items: list[dict[str, Any]], allow_rerun: Iterable[str] = (),
                  completions: dict[str, Any] | None = None, executions: Iterable[str] = ()) -> Plan:
    """The calls for `items` (inspect's, deepest first), restricted to `executions` when given."""
    allowed, completions, wanted = set(allow_rerun), dict(completions or {}), set(executions)
    chosen = [i for i in items if not wanted or i["execution_id"] in wanted or i.get("root_execution_id") in wanted]
    calls: list[Call] = []
    notes: list[str] = []
    for item in chosen:
        if item["class"] == "stuck-execution":
            _plan_stuck(item, allowed, completions, calls, notes)
        elif item["class"] == "abandoned-action":
            _plan_abandoned(item, allowed, calls, notes)
    acted_on = {id_ for i in chosen for id_ in i.get("action_execution_ids") or []}
    notes += [f"--allow-rerun {a}: no listed item has this action execution; ignored" for a in sorted(allowed - acted_on)]
    notes += [f"--complete {a}: no listed item has this RUNNING action execution; ignored"
              for a in sorted(set(completions) - acted_on)]
    listed = {i["execution_id"] for i in items} | {i.get("root_execution_id") for i in items}
    notes += [f"--execution {e}: not listed by inspect (nothing stuck there); left alone" for e in sorted(wanted - listed)]
    return Plan(calls, notes)


def _plan_stuck(item: dict[str, Any], allowed: set[str], completions: dict[str, Any], calls: list[Call],
                notes: list[str]) -> None:
    ex_id = item["execution_id"]
    expired = [a for a in item["evidence"].get("running_actions") or [] if a.get("expired")]
    tasks = {t["id"]: t for t in item["evidence"].get("tasks") or []}
    handed_back = False  # an action we completed or failed-for-rerun: the engine drives the execution again
    for action in expired:
        task = tasks.get(action.get("task_execution_id") or "", {})
        if action["id"] in completions:
            calls.append(_set_action(action, ex_id, "SUCCESS", completions[action["id"]],
                                     f"--complete {action['id']}: the operator says it finished; the engine "
                                     "carries on with this output"))
            handed_back = True
        elif action["id"] in allowed:
            calls.append(_set_action(action, ex_id, "ERROR", f"{STATE_INFO_PREFIX}: no heartbeat since "
                                     f"{action.get('last_heartbeat_bound')}; failed to rerun its task (allowed)",
                                     f"--allow-rerun {action['id']}: fail it so that its task can be rerun"))
            calls.append(_rerun_task(task, action["task_execution_id"], ex_id,
                                     f"rerun task {task.get('name')} (runs {action.get('name')} again: allowed)",
                                     wait=True))
            handed_back = True
        else:
            notes.append(f"action execution {action['id']} ({action.get('name')}, task {task.get('name')}) of "
                         f"{ex_id} stays RUNNING: failing it would let its task's retry or on-error run it again; "
                         f"--allow-rerun {action['id']} if it is safe to run twice, or --complete {action['id']}=JSON "
                         "if you know it finished")
    if handed_back:
        notes.append(f"execution {ex_id}: handed back to the engine; run inspect again once it had time to move")
        return
    reason = (f"{STATE_INFO_PREFIX}: {item['class']}/{item['kind']}, nothing moved since {item.get('since')} "
              f"({item.get('for_s')} s when inspected)")
    calls.append(Call("PUT", f"/v2/executions/{ex_id}", {"state": "ERROR", "state_info": reason},
                      f"fail the stuck execution ({item['kind']}): terminal, and nothing of it runs again", ex_id,
                      {"kind": "execution-unchanged", "id": ex_id, "updated_at": item["evidence"].get("updated_at"),
                       "sub_workflows": list(item["evidence"].get("sub_workflows_not_terminal") or [])}))


def _plan_abandoned(item: dict[str, Any], allowed: set[str], calls: list[Call], notes: list[str]) -> None:
    task = item["evidence"]["task"]
    failed = item.get("action_execution_ids") or []
    # A with-items task reruns its failed iterations (reset false); a regular one its single action (reset).
    runs_again = set(failed)
    if failed and runs_again <= allowed:
        calls.append(_rerun_task(task, task["id"], item["execution_id"],
                                 f"rerun task {task.get('name')} failed by {item['kind']} (runs "
                                 f"{', '.join(sorted(runs_again))} again: allowed)", wait=False))
    elif failed and runs_again & allowed:
        notes.append(f"task {task['id']} ({task.get('name')}) of {item['execution_id']}: a rerun would run "
                     f"{', '.join(sorted(runs_again - allowed))} again too, which is not allowed; left alone")
    else:
        notes.append(f"task {task['id']} ({task.get('name')}) of {item['execution_id']} ({item.get('state')}): "
                     f"failed by {item['kind']}; its action may have run. Terminal: nothing to do unless "
                     + (f"--allow-rerun {' '.join(failed)}" if failed else "you rerun it yourself"))


def _set_action(action: dict[str, Any], ex_id: str, state: str, output: Any, why: str) -> Call:
    return Call("PUT", f"/v2/action_executions/{action['id']}", {"state": state, "output": output}, why, ex_id,
                {"kind": "action-running", "id": action["id"]})


def _rerun_task(task: dict[str, Any], task_id: str, ex_id: str, why: str, wait: bool) -> Call:
    # Mistral refuses reset false for a regular task, and reset true reruns every item of a with-items task.
    body = {"id": task_id, "state": "RUNNING", "reset": not task.get("with_items")}
    return Call("PUT", f"/v2/tasks/{task_id}", body, why, ex_id, {"kind": "task-error", "id": task_id, "wait": wait})


__all__ = ["Call", "Plan", "STATE_INFO_PREFIX", "parse_completions", "plan_recovery"]
