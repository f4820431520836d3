"""Exactly-once against hand-made witness logs and snapshots: each anomaly is reported exactly."""
from __future__ import annotations

from checker.exactly_once import check_exactly_once
from history.witness import witness_runs
from checker.tests.runfixtures import WF, action, execution, snapshot, task, witness


def _check(records: list[dict], snap: dict, started: tuple[str, ...] = (WF,)) -> dict:
    return check_exactly_once(witness_runs(records), snap, started)


def test_clean_run_is_valid() -> None:
    snap = snapshot([execution()], [task("T1")], [action("A1", "T1")])
    report = _check(witness("r1", "A1", "T1"), snap)
    assert report["valid"] is True
    assert (report["runs"], report["completed_runs"], report["duplicate_count"]["illegal"]) == (1, 1, 0)


def test_same_action_execution_run_twice_is_a_redelivered_duplicate() -> None:
    snap = snapshot([execution()], [task("T1")], [action("A1", "T1")])
    records = witness("r1", "A1", "T1", phase_end=False, executor="executor-1") + \
        witness("r2", "A1", "T1", executor="executor-2", redelivered=True, start=130.0)
    report = _check(records, snap)
    assert report["valid"] is False
    assert report["duplicate_count"] == {"redelivered": 1, "task-rerun": 0, "illegal": 1}
    assert report["duplicates"] == [{
        "kind": "redelivered", "action_execution_id": "A1", "task_execution_id": "T1", "workflow_execution_id": WF,
        "task": "t_1", "item": None, "idempotent": False, "legal": False,
        "runs": [{"run_id": "r1", "executor": "executor-1", "start_time": 100.0, "end_time": None,
                  "completed": False, "redelivered": False},
                 {"run_id": "r2", "executor": "executor-2", "start_time": 130.0, "end_time": 131.0,
                  "completed": True, "redelivered": True}]}]
    assert report["interrupted_count"] == 1 and report["interrupted"][0]["run_id"] == "r1"


def test_two_action_executions_for_one_task_run() -> None:
    snap = snapshot([execution()], [task("T1")], [action("A1", "T1", "ERROR", "Heartbeat wasn't received."),
                                                    action("A2", "T1")])
    records = witness("r1", "A1", "T1", phase_end=False) + witness("r2", "A2", "T1", start=150.0)
    report = _check(records, snap)
    assert report["valid"] is False
    assert report["duplicate_count"] == {"redelivered": 0, "task-rerun": 1, "illegal": 1}
    dup = report["duplicates"][0]
    assert (dup["kind"], dup["task_execution_id"], dup["legal"]) == ("task-rerun", "T1", False)
    assert {k: v["mistral_state"] for k, v in dup["action_executions"].items()} == {"A1": "ERROR", "A2": "SUCCESS"}


def test_task_rerun_of_an_idempotent_action_is_legal_but_reported() -> None:
    snap = snapshot([execution()], [task("T1")], [action("A1", "T1", "ERROR"), action("A2", "T1")])
    records = witness("r1", "A1", "T1", idempotent=True) + witness("r2", "A2", "T1", idempotent=True)
    report = _check(records, snap)
    assert report["valid"] is True
    assert report["duplicate_count"] == {"redelivered": 0, "task-rerun": 1, "illegal": 0}
    assert report["duplicates"][0]["legal"] is True


def test_with_items_items_are_not_duplicates() -> None:
    snap = snapshot([execution()], [task("T1", "items")],
                    [action("A1", "T1", item=0), action("A2", "T1", item=1)])
    records = witness("r1", "A1", "T1", item=0, label="items") + witness("r2", "A2", "T1", item=1, label="items")
    assert _check(records, snap)["duplicate_count"]["task-rerun"] == 0


def test_phantom_run_of_an_action_execution_mistral_does_not_know() -> None:
    snap = snapshot([execution()], [task("T1")], [action("A1", "T1")])
    records = witness("r1", "A1", "T1") + witness("r9", "A-ghost", "T1", executor="executor-2")
    report = _check(records, snap)
    assert report["valid"] is False
    assert report["phantom_count"] == 1
    assert report["phantoms"] == [{
        "action_execution_id": "A-ghost", "task_execution_id": "T1", "workflow_execution_id": WF, "task": "t_1",
        "run_id": "r9", "executor": "executor-2", "start_time": 100.0, "end_time": 101.0, "completed": True,
        "redelivered": False, "reason": "the witness saw this action execution run, but Mistral does not know it"}]


def test_success_without_a_witnessed_run_is_missing() -> None:
    snap = snapshot([execution()], [task("T1"), task("T2", "t_2")], [action("A1", "T1"), action("A2", "T2")])
    records = witness("r1", "A1", "T1") + witness("r2", "A2", "T2", phase_end=False)
    report = _check(records, snap)
    assert report["valid"] is False
    assert report["missing"] == [{
        "task_execution_id": "T2", "task": "t_2", "workflow_execution_id": WF, "action_execution_id": "A2",
        "reason": "Mistral says SUCCESS but the witness saw no completed run of this action execution"}]


def test_records_of_other_runs_are_ignored() -> None:
    snap = snapshot([execution()], [task("T1")], [action("A1", "T1")])
    records = witness("r1", "A1", "T1") + witness("r2", "AX", "TX", wf="someone-elses")
    report = _check(records, snap)
    assert report["valid"] is True
    assert report["ignored_records_outside_run"] == 1


def test_a_run_that_started_after_the_snapshot_is_not_a_phantom():
    """An interrupted run is snapshotted while it still moves: a run begun after the snapshot is not unknown to
    Mistral, it is merely later than the snapshot."""

    late = witness("r9", "a9", "t9", start=2000.0)
    early = witness("r8", "a8", "t8", start=500.0)
    result = _check(late + early, snapshot([], [], [], taken_at=1000.0))
    assert result["phantom_count"] == 1 and result["phantoms"][0]["action_execution_id"] == "a8"
    assert result["started_after_snapshot"] == 1
