"""Shared by the map tests: run directories with one rpc fault, judged by the real judge (lab.judge, as
`mistral-lab run` does at the end of a run), so each cell is classified from a results.json the judge wrote."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from checker.tests.runfixtures import action, execution, snapshot, task, witness
from checker.tests.test_anomalies import START_WALL, _run
from checker.tests.test_rpc import _match, _rpc_fault, _timed
from lab.judge import judge_run_dir

HEARTBEAT = "Heartbeat wasn't received."


def _with_a_success(snap: dict[str, Any], records: list[dict]) -> tuple[dict[str, Any], list[dict]]:
    """wf-2 succeeded on executor-2 beside wf-1: the progress and expected-work gates have work to check, as in
    any real cell's run."""
    snap["executions"].append(execution("wf-2"))
    snap["tasks"].append(task("t2", wf="wf-2"))
    snap["action_executions"].append(action("a2", "t2"))
    return snap, records + witness("r2", "a2", "t2", wf="wf-2", executor="executor-2")


def _failed_by_heartbeat(action_id: str = "a1") -> dict[str, Any]:
    return snapshot([{**execution(state="ERROR", state_info="Failure caused by error in tasks: t_1"),
                      "updated_at": "2026-01-01 00:00:16"}],
                    [task("t1", state="ERROR", state_info=HEARTBEAT)],
                    [_timed(action(action_id, "t1", state="ERROR", state_info=None), "00:00:15")],
                    taken_at=START_WALL + 100)


def rpc_run(tmp_path: Path, case: str) -> Path:
    """A stored run of one rpc rule on the message of wf-1's action a1 (wf-2 succeeds beside it):

    lost-result   on_action_complete dropped on receive; the witness saw a1 complete, Mistral failed it
    send-drop     run_action dropped on send (never reached the broker); a1 never ran, failed by heartbeat
    dedup         run_action duplicated on receive; the witness saw one run
    duplicate     run_action duplicated on receive; the witness saw three runs (one more than injected)
    unmatched     on_action_complete drop rule whose heal matched no message
    start-failed  the rule could not be written (its start failed)
    heal-failed   the rule's heal failed: what it matched is unknown
    """
    node = "engine-1" if case in ("lost-result", "unmatched", "start-failed", "heal-failed") else "executor-1"
    method = "on_action_complete" if node == "engine-1" else "run_action"
    side, kind = "receive", "drop"
    snap, records = snapshot([execution()], [task("t1")], [_timed(action("a1", "t1"), "00:00:04")],
                             taken_at=START_WALL + 100), witness("r1", "a1", "t1")
    if case == "lost-result":
        snap = _failed_by_heartbeat()
    elif case == "send-drop":
        node, side, snap, records = "engine-1", "send", _failed_by_heartbeat(), []
    elif case in ("dedup", "duplicate"):
        kind = "duplicate"
        runs = 1 if case == "dedup" else 3
        records = [r for i in range(runs) for r in witness(f"r1{i}", "a1", "t1", start=START_WALL + 3 + i)]
    snap, records = _with_a_success(snap, records)
    match = _match(method, side, kind, node, 3.0, action_execution_id="a1", task_execution_id="t1",
                   workflow_execution_id="wf-1")
    heal: dict[str, Any] = {"matches": [match]}
    if case == "unmatched":
        heal = {"matches": [], "candidates": {node: 0}}
    elif case == "heal-failed":
        heal = {"_type": "info", "error": "docker exec timed out"}
    nemesis = _rpc_fault(0, 1.0, 11.0, [node], {"method": method, "side": side, "action": kind}, heal)
    if case == "start-failed":
        nemesis = [nemesis[0], ("info", "rpc", {"action": "start", "error": "rpc: no rule file dir"}, 1.1),
                   *nemesis[4:]]
    return _run(tmp_path / case, snap, records, nemesis, starts=("wf-1", "wf-2"))


def judged(tmp_path: Path, case: str, **outcome: Any) -> dict[str, Any]:
    """The results.json the judge writes for `rpc_run(case)` (outcome: interrupted, lab_error)."""
    return judge_run_dir(rpc_run(tmp_path, case), **outcome)
