"""The witness's JSONL records (one `start` and, unless cut short, one `end` per physical action run), paired
into runs. The witness log is part of a run's contract, like history.jsonl: the cluster layer reads it to drain
an executor, the checkers to judge exactly-once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class WitnessRun:
    """One physical run of a witness action: its start record and, unless it was cut short, its end."""

    run_id: str
    action_execution_id: str | None
    task_execution_id: str | None
    workflow_execution_id: str | None
    label: str | None
    item: Any
    idempotent: bool
    executor: str | None
    redelivered: bool | None
    start_time: float | None
    end_time: float | None = None
    completed: bool = False

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "executor": self.executor, "start_time": self.start_time,
                "end_time": self.end_time, "completed": self.completed, "redelivered": self.redelivered}


def witness_runs(records: list[dict[str, Any]]) -> list[WitnessRun]:
    """Pair start/end records by run_id, in order of first appearance."""
    runs: dict[str, WitnessRun] = {}
    for record in records:
        run_id = str(record.get("run_id"))
        run = runs.get(run_id)
        if run is None:
            run = runs[run_id] = WitnessRun(
                run_id=run_id, action_execution_id=record.get("action_execution_id"),
                task_execution_id=record.get("task_execution_id"),
                workflow_execution_id=record.get("workflow_execution_id"), label=record.get("label"),
                item=record.get("item"), idempotent=bool(record.get("idempotent")),
                executor=record.get("executor"), redelivered=record.get("redelivered"),
                start_time=record.get("start_time"))
        if record.get("phase") == "end":
            run.completed = True
            run.end_time = record.get("end_time")
    return list(runs.values())
