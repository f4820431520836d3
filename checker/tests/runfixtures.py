"""Hand-made run files for the run checkers' tests: witness records, Mistral snapshots, histories."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from history.writer import HistoryWriter

WF = "wf-1"


def witness(run_id: str, action: str, task: str, phase_end: bool = True, *, wf: str = WF, label: str = "t_1",
            item: Any = None, idempotent: bool = False, executor: str = "executor-1",
            redelivered: bool = False, start: float = 100.0) -> list[dict[str, Any]]:
    """The start (and end) records of one physical run of lab.witness."""
    base = {"run_id": run_id, "action_execution_id": action, "task_execution_id": task,
            "workflow_execution_id": wf, "label": label, "item": item, "idempotent": idempotent,
            "executor": executor, "redelivered": redelivered, "start_time": start, "with_items_index": 0}
    records = [{**base, "phase": "start", "end_time": None}]
    if phase_end:
        records.append({**base, "phase": "end", "end_time": start + 1.0})
    return records


def execution(ex_id: str = WF, state: str = "SUCCESS", state_info: str | None = None) -> dict[str, Any]:
    return {"id": ex_id, "workflow_name": "lab_ref", "state": state, "state_info": state_info,
            "created_at": "2026-01-01 00:00:00", "updated_at": "2026-01-01 00:00:05"}


def task(task_id: str, name: str = "t_1", state: str = "SUCCESS", wf: str = WF,
         state_info: str | None = None) -> dict[str, Any]:
    return {"id": task_id, "name": name, "type": "ACTION", "workflow_execution_id": wf, "state": state,
            "state_info": state_info, "created_at": "2026-01-01 00:00:01", "started_at": "2026-01-01 00:00:01",
            "finished_at": "2026-01-01 00:00:03" if state == "SUCCESS" else None,
            "updated_at": "2026-01-01 00:00:03"}


def action(action_id: str, task_id: str, state: str = "SUCCESS", state_info: str | None = None,
           item: Any = None, heartbeat: str | None = "2026-01-01 00:00:02") -> dict[str, Any]:
    params = {"seconds": 0.1, "label": "t", "idempotent": False}
    if item is not None:
        params["item"] = item
    return {"id": action_id, "name": "lab.witness", "task_execution_id": task_id, "state": state,
            "state_info": state_info, "input": json.dumps(params), "accepted": state != "RUNNING",
            "updated_at": "2026-01-01 00:00:02", "last_heartbeat": heartbeat}


def snapshot(executions: list, tasks: list, actions: list, taken_at: float = 1000.0) -> dict[str, Any]:
    return {"taken_at": taken_at, "executions": executions, "tasks": tasks, "action_executions": actions}


def write_run(run_dir: Path, *, starts: list[tuple[str, str, str]] | None = None, records: list[dict] | None = None,
              snap: dict | None = None, checkers: list[str] | None = None, quiet_since: float = 900.0,
              settle_s: float = 60.0, model: str | None = None, plan: list[dict] | None = None) -> Path:
    """A complete run directory. `starts`: (execution id, completion type, node) of f="start" ops, each
    recording as its expected work the tasks the snapshot holds for it (a workflow that did what it must);
    test.yaml plans `plan` (no fault by default)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    snap = snap or snapshot([], [], [])
    (run_dir / "test.yaml").write_text(json.dumps({"name": "t", "nemesis": {"faults": [f["fault"] for f in plan]}
                                                   if plan else {}, "planned_faults": plan or []}))
    with HistoryWriter(run_dir / "history.jsonl") as writer:
        for process, (ex_id, kind, node) in enumerate(starts or []):
            tasks = sum(1 for t in snap["tasks"] if t.get("workflow_execution_id") == ex_id)
            writer.append(process, "invoke", "start", {"workflow": "lab_ref", "expected_tasks": tasks or None},
                          key=ex_id, node=node)
            writer.append(process, kind, "start", "RUNNING" if kind == "ok" else None, key=ex_id, node=node,
                          error=None if kind == "ok" else "boom")
    (run_dir / "witness.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records or []))
    (run_dir / "mistral-snapshot.json").write_text(json.dumps(snap))
    (run_dir / "run.json").write_text(json.dumps({
        "workload": {"name": "reference", "checkers": checkers or ["completion", "succeeded-despite-faults",
                                                                   "exactly-once", "perf"], "model": model},
        "quiet_since_wall": quiet_since, "settle_s": settle_s, "overrides": {}}))
    return run_dir
