"""Which task executions an engine says it received `start_task` for, from the run's engine logs.

A task execution leaves IDLE only through the RPC cast start_task (engine/dispatcher.py casts it after the commit
that creates the task; EngineServer.start_task logs "Received RPC request 'start_task' [task_ex_id=..." and runs
it). So an IDLE task no engine log shows received is a lost start_task - dropped, or never sent because its
sending engine stopped between the commit and the cast - not a task an engine received and failed to run.

    received_start_tasks(run_dir) -> {task_execution_id: "engine-1 17:20:07.911"} or None without engine logs
"""
from __future__ import annotations

import re
from pathlib import Path

from history.run_dir import LOGS_DIR

# 23.0.0 writes "'start_task' [task_ex_id=", 20.2.0 "'start_task'[task_ex_id=".
RECEIVED = re.compile(r"^(?P<time>\S+ \S+) .*Received RPC request 'start_task' ?\[task_ex_id=(?P<task>[0-9a-f-]{36})")


def received_start_tasks(run_dir: Path | str) -> dict[str, str] | None:
    """Every start_task an engine logged receiving, with where and when; None when the run kept no engine log
    (then nothing can be said about any task, and nothing is)."""
    logs = sorted((Path(run_dir) / LOGS_DIR).glob("engine-*.log"))
    if not logs:
        return None
    received: dict[str, str] = {}
    for log in logs:
        with open(log, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if "'start_task'" not in line:
                    continue
                match = RECEIVED.match(line)
                if match:
                    received.setdefault(match["task"], f"{log.stem} {match['time'].split(' ')[-1]}")
    return received


def idle_task_note(idle_tasks: list[dict], received: dict[str, str] | None) -> str | None:
    """'IDLE task p_1: no engine handled its start_task (no engine log shows it received)', or where it
    was received; None when the logs cannot tell."""
    if received is None or not idle_tasks:
        return None
    notes = []
    for task in idle_tasks:
        name = task.get("name") or task.get("id")
        where = received.get(str(task.get("id")))
        notes.append(f"IDLE task {name}: " + (f"its start_task was received ({where}), yet it never left IDLE"
                                              if where else "no engine handled its start_task (no engine log "
                                              "shows it received)"))
    return "; ".join(notes)


__all__ = ["RECEIVED", "idle_task_note", "received_start_tasks"]
