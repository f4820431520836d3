"""The short seeded spec of one map cell: a workload sure to make Mistral send the cell's method, and one `rpc`
fault with the cell's method, side and action, pinned early in the run so it meets that method's messages.

PLANS is the table of which workload exercises each method (and why it sends it), or why the lab cannot make
Mistral 23 send it at all; docs/protocol-map.md repeats it, and a test keeps the two equal.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.map.cells import Cell
from lab.spec import TestSpec, check_faults_fit, validate_spec, with_mistral_source
from nemesis.rpc import default_role


@dataclass(frozen=True)
class Exercise:
    """How a cell's run makes Mistral send its method."""

    workload: str
    params: dict[str, Any]
    why: str  # the Mistral 23 code path that sends the method under this workload
    concurrency: int = 2
    rate: float = 1.5
    cluster: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


# The reference workflows' action path: every task runs lab.witness, so run_action, on_action_complete,
# report_running_actions and start_task flow for every task, start_workflow for every start.
REFERENCE = {"kinds": "sequence,parallel", "n": 2, "seconds": 1}
# Executions long enough (3 tasks x 2 s) to be paused, resumed or cancelled while they run.
CONTROL = {"n": 3, "seconds": 2, "control_ratio": 0.5}
CANNOT = "cannot exercise"
PLANS: dict[str, Exercise | str] = {
    "run_action": Exercise("reference", REFERENCE, "the engine casts run_action to an executor for every task"),
    "on_action_complete": Exercise("reference", REFERENCE,
                                   "the executor casts each finished lab.witness run's result to an engine"),
    "on_action_update": "Mistral 23 sends it only from the API, for PUT /v2/action_executions/<id> with a new "
                        "state (an action execution set by hand); no lab workload does that",
    "start_workflow": Exercise("reference", REFERENCE, "every start: the API calls start_workflow on an engine"),
    "report_running_actions": Exercise("reference", REFERENCE,
                                       "the executor sends a heartbeat when an action starts and every "
                                       "check_interval while it runs (action_heartbeat_sender)"),
    "start_task": Exercise("reference", REFERENCE,
                           "the engine casts start_task after committing each new task (engine/dispatcher.py)"),
    "start_action": "Mistral 23 sends it only for an ad-hoc action run through the API (POST "
                    "/v2/action_executions); no lab workload runs one",
    "pause_workflow": Exercise("execution-state", {**CONTROL, "cancel_share": 0.0},
                               "a client pauses a running execution (PUT /v2/executions/<id> state=PAUSED): "
                               "the API calls pause_workflow", rate=3.0),
    "resume_workflow": Exercise("execution-state", {**CONTROL, "cancel_share": 0.0},
                                "a client resumes an execution it paused (state=RUNNING): the API calls "
                                "resume_workflow", rate=3.0),
    "rerun_workflow": "Mistral 23 sends it only for a task rerun through the API (PUT /v2/tasks/<id> "
                      "state=RUNNING); no lab workload reruns a task",
    "stop_workflow": Exercise("execution-state", {**CONTROL, "cancel_share": 1.0},
                              "a client cancels a running execution (state=CANCELLED): the API calls "
                              "stop_workflow", rate=3.0),
    "rollback_workflow": "no code path of Mistral 23 calls EngineClient.rollback_workflow",
    "notify": Exercise("reference", REFERENCE,
                       "with a publisher in [notifier] notify, the engine casts notify to the notifier on every "
                       "workflow state change", cluster={"notifiers": 1},
                       config={"notifier.notify": '[{"type": "noop"}]'}),
    "create_event_trigger": "sent by the API only for POST /v2/event_triggers; no lab workload manages event "
                            "triggers",
    "delete_event_trigger": "sent by the API only for DELETE /v2/event_triggers/<id>; no lab workload manages "
                            "event triggers",
    "update_event_trigger": "sent by the API only for PUT /v2/event_triggers/<id>; no lab workload manages event "
                            "triggers",
}

# The rpc-* specs' heartbeat settings: failures by the heartbeat check come within the run's settle window.
HEARTBEAT = {"action_heartbeat.check_interval": 2, "action_heartbeat.max_missed_heartbeats": 5,
             "action_heartbeat.first_heartbeat_timeout": 30}
CLUSTER = {"apis": 2, "engines": 2, "executors": 2}  # one node of each role left when one is hit
AT_S = 2.0          # after the workload's setup: messages flow from the first second of load
DURATION_S = 12.0   # the rule meets its first candidate within a second; a crashed node stays down this long
TIME_LIMIT_S = 20.0
WARMUP_S = 2.0      # a lab is ready when up or reset returns
# A delay beyond the heartbeat window (10 s here) but within first_heartbeat_timeout and rpc_response_timeout:
# long enough that a late result or heartbeat can race the heartbeat check, short of failing a call outright.
DELAY_MS = 15_000


def cannot_exercise(cell: Cell) -> str | None:
    """Why the lab cannot make Mistral send the cell's method; None when it can."""
    plan = PLANS[cell.method]
    return plan if isinstance(plan, str) else None


def cell_seed(base_seed: int, cell: Cell, attempt: int = 1) -> int:
    """The seed of a cell's attempt: from the base seed and the cell's name (crc32, the same in every
    process), attempt k at seed + k - 1, as findings replays count."""
    return base_seed + zlib.crc32(cell.key.encode()) % 1_000_000 + attempt - 1


def fault_options(cell: Cell) -> dict[str, Any]:
    options: dict[str, Any] = {"method": cell.method, "side": cell.side, "action": cell.action, "count": 1}
    if cell.action == "delay":
        options["delay_ms"] = DELAY_MS
    return options


def spec_data(cell: Cell, seed: int, mistral_version: str | None = None) -> dict[str, Any]:
    """The cell's spec as a plain mapping (what test.yaml will hold)."""
    plan = PLANS[cell.method]
    if isinstance(plan, str):
        raise ValueError(f"{cell.key}: {CANNOT}: {plan}")
    step = {"at_s": AT_S, "fault": "rpc", "target": f"random:{default_role(cell.method, cell.side)}",
            "options": fault_options(cell), "duration_s": DURATION_S, "seed": seed}
    data: dict[str, Any] = {
        "name": f"map-{cell.method}-{cell.side}-{cell.action}",
        "description": f"protocol map cell {cell.key}: {plan.why}; one message, {cell.action} on {cell.side}",
        "cluster": {**CLUSTER, **plan.cluster},
        "mistral_config": {**HEARTBEAT, **plan.config},
        "workload": {"name": plan.workload, "concurrency": plan.concurrency, "rate": plan.rate,
                     "params": dict(plan.params)},
        "nemesis": {"schedule": [step]},
        "time_limit_s": TIME_LIMIT_S, "warmup_s": WARMUP_S, "seed": seed,
    }
    if mistral_version:
        data["mistral_version"] = mistral_version
    return data


def cell_spec(cell: Cell, seed: int, mistral_version: str | None = None,
              mistral_src: Path | None = None) -> TestSpec:
    """The validated spec of one attempt of a cell (LabError if it would not run)."""
    spec = validate_spec(spec_data(cell, seed, mistral_version), f"<map cell {cell.key}>")
    check_faults_fit(spec)
    return with_mistral_source(spec, mistral_src)  # the same source-built spec the findings replays use


__all__ = ["AT_S", "CANNOT", "DELAY_MS", "DURATION_S", "Exercise", "PLANS", "TIME_LIMIT_S", "cannot_exercise",
           "cell_seed", "cell_spec", "fault_options", "spec_data"]
