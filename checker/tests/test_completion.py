"""Eventual completion and succeeded-despite-faults against hand-made snapshots: exact reports."""
from __future__ import annotations

from pathlib import Path

from checker.completion import normalise_cause
from history.mistral import default_settle_s
from checker.run_checks import check_run
from checker.tests.runfixtures import action, execution, snapshot, task, witness, write_run

HEARTBEAT_LOST = "Heartbeat wasn't received."


def _stuck_snapshot(taken_at: float) -> dict:
    return snapshot([execution("wf-1"), execution("wf-2", "RUNNING")],
                    [task("T1", wf="wf-1"), task("T2", "t_1", "RUNNING", wf="wf-2")],
                    [action("A1", "T1"), action("A2", "T2", "RUNNING", heartbeat="2026-01-01 00:00:09")],
                    taken_at=taken_at)


def _completion(tmp_path: Path, taken_at: float, settle_s: float = 60.0) -> dict:
    run = write_run(tmp_path, starts=[("wf-1", "ok", "api-1"), ("wf-2", "ok", "api-2")],
                    records=witness("r1", "A1", "T1", wf="wf-1") +
                    witness("r2", "A2", "T2", wf="wf-2", phase_end=False, executor="executor-2"),
                    snap=_stuck_snapshot(taken_at), checkers=["completion"], quiet_since=900.0, settle_s=settle_s)
    return check_run(run)["checkers"]["completion"]


def test_stuck_execution_after_the_settle_window_is_reported_in_full(tmp_path: Path) -> None:
    report = _completion(tmp_path, taken_at=1000.0)
    assert report["valid"] is False
    assert report["terminal"] == {"CANCELLED": 0, "ERROR": 0, "SUCCESS": 1}
    assert report["stuck_count"] == 1
    assert report["reason"] == "1 execution(s) still not terminal 100.0 s after the last fault (settle window 60 s)"
    assert report["stuck"] == [{
        "id": "wf-2", "workflow": "lab_ref", "state": "RUNNING", "state_info": None,
        "created_at": "2026-01-01 00:00:00", "updated_at": "2026-01-01 00:00:05",
        "tasks": [{"id": "T2", "name": "t_1", "state": "RUNNING", "state_info": None,
                   "updated_at": "2026-01-01 00:00:03"}],
        "action_executions": [{"id": "A2", "task_execution_id": "T2", "state": "RUNNING", "state_info": None,
                               "last_heartbeat": "2026-01-01 00:00:09", "updated_at": "2026-01-01 00:00:02"}],
        "last_heartbeat": "2026-01-01 00:00:09",
        "nodes": {"api": ["api-2"], "executors": ["executor-2"]},
        "unfinished_witness_runs": 1}]


def test_stuck_before_the_settle_window_ended_is_unknown(tmp_path: Path) -> None:
    report = _completion(tmp_path, taken_at=930.0)
    assert report["valid"] == "unknown"
    assert report["reason"] == ("1 execution(s) not terminal, but the snapshot was taken 30.0 s after the last "
                                "fault/op, before the settle window of 60 s ended")
    assert check_run(tmp_path, settle_s=20.0)["checkers"]["completion"]["valid"] is False


def test_lost_acknowledged_start_and_indeterminate_starts(tmp_path: Path) -> None:
    run = write_run(tmp_path, starts=[("wf-1", "ok", "api-1"), ("wf-gone", "ok", "api-1"),
                                      ("wf-maybe", "info", "api-2"), ("wf-no", "fail", "api-2")],
                    snap=snapshot([execution("wf-1"), execution("wf-no", "SUCCESS")], [], []),
                    checkers=["completion"])
    report = check_run(run)["checkers"]["completion"]
    assert report["valid"] is False
    assert report["lost"] == ["wf-gone"]
    assert report["never_created"] == ["wf-maybe"]
    assert report["failed_but_created"] == [{"id": "wf-no", "node": "api-2", "error": "boom", "state": "SUCCESS"}]
    assert report["reason"] == "1 acknowledged start(s) unknown to Mistral"


def test_failed_by_heartbeat_grouped_by_cause(tmp_path: Path) -> None:
    snap = snapshot(
        [execution("wf-1", "ERROR", "Failure caused by error in tasks: t_1"),
         execution("wf-2", "ERROR", "Failure caused by error in tasks: t_1"),
         execution("wf-3", "SUCCESS"), execution("wf-4", "ERROR", "Failed to run action [action_ex_id=x]")],
        [task("T1", state="ERROR", wf="wf-1"), task("T2", state="ERROR", wf="wf-2"), task("T3", wf="wf-3"),
         task("T4", state="ERROR", wf="wf-4", state_info="Failed to run action 12")],
        [action("A1", "T1", "ERROR", HEARTBEAT_LOST), action("A2", "T2", "ERROR", HEARTBEAT_LOST),
         action("A3", "T3"), action("A4", "T4", "ERROR", None)])
    run = write_run(tmp_path, starts=[(f"wf-{i}", "ok", "api-1") for i in range(1, 5)], snap=snap,
                    checkers=["succeeded-despite-faults", "completion"])
    result = check_run(run)
    report = result["checkers"]["succeeded-despite-faults"]
    assert report == {
        "valid": False, "built_to_succeed": 4, "states": {"ERROR": 3, "SUCCESS": 1}, "errored": 3,
        "causes": {"Heartbeat wasn't received.": {"count": 2, "executions": ["wf-1", "wf-2"]},
                   "Failed to run action N": {"count": 1, "executions": ["wf-4"]}},
        "reason": "3 execution(s) built to succeed ended in ERROR; most common cause: \"Heartbeat wasn't received.\""}
    assert result["checkers"]["completion"]["valid"] is True  # ERROR is terminal: they did finish
    assert result["valid"] is False


def test_default_settle_window_follows_cluster_settings() -> None:
    shared = {"action_heartbeat": {"check_interval": "2", "max_missed_heartbeats": "5",
                                   "first_heartbeat_timeout": "30"}}
    assert default_settle_s(shared) == 30 + 2 * 2 * 5 + 2 + 2 * 20 + 10
    assert default_settle_s(shared, action_seconds=3) == default_settle_s(shared) + 3
    assert default_settle_s({}) == 3600 + 2 * 20 * 15 + 20 + 40 + 10


def test_normalise_cause() -> None:
    assert normalise_cause(None) == "unknown (no state_info)"
    assert normalise_cause("\n  Task 9e3c1f0a-1b2c-4d5e-8f90-123456789abc failed after 3 tries\nmore") == \
        "Task <id> failed after N tries"


# ---------------------------------------------------------------- an execution its client paused
def _op(index: int, f: str, status: str, at: int, key: str = "wf-p", error: str | None = None):
    from history.pairing import Operation

    return Operation(index, 0, f, None, status, index, index + 1, key=key, call_time=at, node="api-1", error=error)


REFUSED = "ConnectionError: ... (Caused by NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=1)"


def _paused_report(*control):
    from checker.completion import check_completion

    start = _op(0, "start", "ok", 0)
    snap = snapshot([execution("wf-p", "PAUSED")], [task("T1", wf="wf-p")], [action("A1", "T1")], taken_at=1000.0)
    return check_completion([start], snap, [], [start, *control], settle_s=60.0, quiet_since=900.0)


def test_a_paused_execution_whose_resume_never_reached_mistral_is_its_clients_not_stuck() -> None:
    report = _paused_report(_op(2, "pause", "ok", 10), _op(4, "resume", "info", 20, error=REFUSED),
                            _op(6, "resume", "fail", 30, error="400: already"))
    assert report["valid"] is True and report["stuck_count"] == 0
    assert report["paused_by_client"] == ["wf-p"] and report["created"] == 1


def test_a_paused_execution_after_an_acknowledged_resume_is_stuck() -> None:
    report = _paused_report(_op(2, "pause", "ok", 10), _op(4, "resume", "ok", 20), _op(6, "pause", "fail", 30))
    assert report["valid"] is False and [s["id"] for s in report["stuck"]] == ["wf-p"]
    assert _paused_report()["stuck_count"] == 1  # no client paused it: Mistral did, and nothing resumes it


def test_a_resume_that_may_have_reached_mistral_leaves_the_verdict_unknown_with_why() -> None:
    report = _paused_report(_op(2, "pause", "ok", 10), _op(4, "resume", "info", 20, error="ReadTimeout"))
    assert report["valid"] == "unknown" and report["paused_resume_unknown"] == ["wf-p"]
    assert report["reason"].startswith("1 execution(s) PAUSED by their client, whose resume may have reached")
    later = _paused_report(_op(2, "pause", "ok", 10), _op(4, "resume", "info", 20, error="ReadTimeout"),
                           _op(6, "resume", "ok", 25), _op(8, "pause", "ok", 30))
    assert later["valid"] is True and later["paused_by_client"] == ["wf-p"]  # only what follows the last pause
