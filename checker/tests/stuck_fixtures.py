"""Mistral 23 REST rows for the inspect / recover tests: field names and value formats as Mistral's API returns
them (and as a lab's mistral-snapshot.json stores them), times relative to a fixed NOW."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
WF_ID = "1fd8ff31-cee5-4135-a3ea-2e1b7bffa5cc"


def ago(seconds: float) -> str:
    return datetime.fromtimestamp(NOW - seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def execution(ex_id: str, state: str = "RUNNING", created: float = 7200, updated: float = 3600,
              workflow: str = "lab_ref_join", parent_task: str | None = None, root: str | None = None,
              state_info: str | None = None) -> dict[str, Any]:
    return {"id": ex_id, "workflow_id": WF_ID, "workflow_name": workflow, "workflow_namespace": "",
            "description": "", "tags": [], "params": "{\"namespace\": \"\", \"env\": {}}", "input": "{}",
            "task_execution_id": parent_task, "root_execution_id": root, "state": state, "state_info": state_info,
            "project_id": "<default-project>", "created_at": ago(created), "updated_at": ago(updated)}


def task(task_id: str, ex_id: str, name: str, state: str, updated: float = 3600, state_info: str | None = None,
         with_items: bool = False, kind: str = "ACTION") -> dict[str, Any]:
    context = {"with_items": {"capacity": 1}} if with_items else {}
    return {"id": task_id, "name": name, "type": kind, "workflow_execution_id": ex_id, "workflow_id": WF_ID,
            "workflow_name": "lab_ref_join", "workflow_namespace": "", "state": state, "state_info": state_info,
            "processed": state in ("SUCCESS", "ERROR"), "project_id": "<default-project>", "published": "{}",
            "runtime_context": json.dumps(context), "tags": [], "created_at": ago(updated + 5),
            "started_at": ago(updated + 5), "finished_at": ago(updated) if state in ("SUCCESS", "ERROR") else None,
            "updated_at": ago(updated)}


def action(action_id: str, task_id: str, state: str = "RUNNING", created: float = 7200,
           updated: float | None = None, name: str = "lab.witness") -> dict[str, Any]:
    """An action execution as the REST API lists it: no last_heartbeat (the API does not expose it)."""
    return {"id": action_id, "name": name, "task_execution_id": task_id, "workflow_name": "lab_ref_join",
            "workflow_namespace": "", "state": state, "state_info": None, "accepted": True, "description": "",
            "input": "{\"seconds\": 1.0, \"idempotent\": false}", "project_id": "<default-project>", "tags": None,
            "created_at": ago(created), "updated_at": ago(created if updated is None else updated)}


def stuck_world() -> tuple[list[dict], list[dict], list[dict]]:
    """One execution of each kind, a healthy slow one, and an abandoned action (ids say which is which)."""
    executions = [execution("ex-join"), execution("ex-running-action"), execution("ex-idle"),
                  execution("ex-unfinished"), execution("ex-healthy-slow", created=10800, updated=10790),
                  execution("ex-abandoned", state="ERROR", state_info="Heartbeat wasn't received.")]
    tasks = [task("t-join-a", "ex-join", "a", "SUCCESS"), task("t-join", "ex-join", "join", "WAITING"),
             task("t-ra", "ex-running-action", "p_1", "RUNNING"),
             task("t-idle", "ex-idle", "t_1", "IDLE"),
             task("t-unf", "ex-unfinished", "t_1", "SUCCESS"),
             task("t-slow", "ex-healthy-slow", "slow", "RUNNING", updated=10790),
             task("t-ab", "ex-abandoned", "p_2", "ERROR", updated=600, state_info="Heartbeat wasn't received.")]
    actions = [action("a-ra", "t-ra", created=7200),  # never a heartbeat: first timeout + window long past
               action("a-slow", "t-slow", created=10800, updated=10),  # heartbeats keep moving updated_at
               action("a-ab", "t-ab", state="ERROR", created=1200, updated=600)]
    return executions, tasks, actions


__all__ = ["NOW", "action", "ago", "execution", "stuck_world", "task"]
