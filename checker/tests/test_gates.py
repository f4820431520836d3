"""The gates on hand-made run directories: a run that exercised nothing, whose faults never took effect, or
whose SUCCESS executions did less than their workflow must do, is never VALID."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from checker import run_checks
from checker.run_checks import check_run
from checker.tests.runfixtures import action, execution, snapshot, task, witness, write_run
from cluster.errors import LabError
from history.writer import HistoryWriter

REF = {"workflow": "lab_ref", "expected_tasks": 1, "expected_actions": 1}


def _history(run_dir: Path, starts: list[tuple[str, str]], nemesis: list[tuple[str, str, dict]] = (),
             value: dict = REF) -> None:
    """starts: (execution id, completion type); nemesis: (type, fault, value) events in order."""
    with HistoryWriter(run_dir / "history.jsonl") as writer:
        for process, (ex_id, kind) in enumerate(starts):
            writer.append(process, "invoke", "start", value, key=ex_id, node="api-1")
            writer.append(process, kind, "start", "RUNNING" if kind == "ok" else None, key=ex_id, node="api-1",
                          error=None if kind == "ok" else "boom")
        for kind, fault, data in nemesis:
            writer.append("nemesis", kind, fault, data)


def _plan(run_dir: Path, faults: list[dict]) -> None:
    (run_dir / "test.yaml").write_text(yaml.safe_dump({"name": "t", "planned_faults": faults}))


def _good_run(run_dir: Path) -> Path:
    write_run(run_dir, records=witness("r1", "a1", "t1"),
              snap=snapshot([execution()], [task("t1")], [action("a1", "t1")]))
    _history(run_dir, [("wf-1", "ok")])
    return run_dir


def test_a_good_run_passes_every_gate(tmp_path):
    result = check_run(_good_run(tmp_path / "run"))
    assert result["valid"] is True, result["reasons"]
    assert {name: g["valid"] for name, g in result["gates"].items()} == \
        {"progress": True, "faults": True, "expected-work": True}
    assert result["reasons"] == []


def test_an_empty_run_is_unknown_not_valid(tmp_path):
    run_dir = write_run(tmp_path / "run")
    result = check_run(run_dir)
    assert result["valid"] == "unknown"
    assert result["gates"]["progress"]["valid"] == "unknown"
    assert "no operation completed ok" in result["gates"]["progress"]["reason"]
    assert any(line.startswith("UNKNOWN (gate progress)") for line in result["reasons"])


def test_a_run_whose_starts_all_failed_is_unknown(tmp_path):
    run_dir = write_run(tmp_path / "run", starts=[(f"wf-{i}", "fail", "api-1") for i in range(20)])
    result = check_run(run_dir)
    assert result["valid"] == "unknown"
    assert "none of 20 starts was acknowledged" in result["gates"]["progress"]["reason"]


def test_a_run_whose_starts_were_all_info_and_created_nothing_is_unknown(tmp_path):
    run_dir = write_run(tmp_path / "run", starts=[(f"wf-{i}", "info", "api-1") for i in range(5)])
    result = check_run(run_dir)
    assert result["valid"] == "unknown"
    assert "no execution of a workflow built to succeed reached SUCCESS" in \
        result["gates"]["progress"]["reason"]


def test_planned_faults_that_never_applied_make_the_run_unknown(tmp_path):
    run_dir = _good_run(tmp_path / "run")
    _plan(run_dir, [{"at_s": 1, "fault": "kill", "target": "api-1"},
                    {"at_s": 5, "fault": "pause", "target": "engine-1"},
                    {"at_s": 9, "fault": "partition", "target": None}])
    _history(run_dir, [("wf-1", "ok")], nemesis=[
        ("invoke", "kill", {"action": "start", "index": 0}),
        ("info", "kill", {"action": "start", "error": "LabError: no running node api-1"}),
        ("invoke", "pause", {"action": "start", "index": 1}),
        ("ok", "pause", {"action": "start", "paused": []}),
    ])
    result = check_run(run_dir)
    gate = result["gates"]["faults"]
    assert result["valid"] == "unknown"
    assert (gate["planned"], gate["applied"]) == (3, 0)
    assert [f["applied"] for f in gate["faults"]] == [False, False, False]
    assert "no running node api-1" in gate["faults"][0]["reason"]
    assert "touched nothing" in gate["faults"][1]["reason"]
    assert "never started" in gate["faults"][2]["reason"]
    assert gate["reason"].startswith("3 of 3 planned fault(s) did not take effect")


def test_an_applied_fault_passes_the_faults_gate(tmp_path):
    run_dir = _good_run(tmp_path / "run")
    _plan(run_dir, [{"at_s": 1, "fault": "kill", "target": "api-1"}])
    _history(run_dir, [("wf-1", "ok")], nemesis=[
        ("invoke", "kill", {"action": "start", "index": 0}), ("ok", "kill", {"action": "start", "killed": ["api-1"]})])
    gate = check_run(run_dir)["gates"]["faults"]
    assert gate["valid"] is True and gate["faults"][0]["applied"] is True


def test_a_success_execution_with_fewer_tasks_than_its_workflow_is_invalid(tmp_path):
    run_dir = write_run(tmp_path / "run", records=witness("r1", "a1", "t1"),
                        snap=snapshot([execution()], [task("t1")], [action("a1", "t1")]))
    _history(run_dir, [("wf-1", "ok")], value={"workflow": "lab_ref", "expected_tasks": 3, "expected_actions": 3})
    result = check_run(run_dir)
    gate = result["gates"]["expected-work"]
    assert result["valid"] is False
    assert gate["wrong"][0]["tasks"] == {"expected": 3, "found": 1}
    assert gate["wrong"][0]["actions"] == {"expected": 3, "found": 1}
    assert any(line.startswith("INVALID (gate expected-work)") for line in result["reasons"])


def test_a_success_execution_with_zero_tasks_is_invalid(tmp_path):
    run_dir = write_run(tmp_path / "run", snap=snapshot([execution()], [], []))
    _history(run_dir, [("wf-1", "ok")])
    assert check_run(run_dir)["gates"]["expected-work"]["valid"] is False


def test_an_interrupted_settle_gives_unknown_for_a_running_execution(tmp_path):
    """quiet_since_wall is null when the settle wait never finished: RUNNING is not stuck, it is unknown."""
    run_dir = write_run(tmp_path / "run", records=witness("r1", "a1", "t1", phase_end=False),
                        snap=snapshot([execution(state="RUNNING")], [task("t1", state="RUNNING")],
                                      [action("a1", "t1", state="RUNNING")], taken_at=1.7e9))
    _history(run_dir, [("wf-1", "ok")])
    run = json.loads((run_dir / "run.json").read_text())
    run["quiet_since_wall"] = None
    (run_dir / "run.json").write_text(json.dumps(run))
    result = check_run(run_dir)
    assert result["checkers"]["completion"]["valid"] == "unknown"
    assert result["valid"] == "unknown"


def test_a_crashing_checker_is_unknown_with_its_error_not_a_traceback(tmp_path, monkeypatch):
    def crash(files, settle_s):
        raise TypeError("describe_state got None")

    monkeypatch.setitem(run_checks.CHECKERS, "perf", crash)
    result = check_run(_good_run(tmp_path / "run"))
    assert result["checkers"]["perf"] == {"valid": "unknown", "error": "TypeError: describe_state got None",
                                          "reason": "the checker crashed (TypeError: describe_state got None)"}
    assert result["valid"] == "unknown"
    assert result["checkers"]["completion"]["valid"] is True  # the others still judged the run


@pytest.mark.parametrize("bad", ["{not json", "[]"])
def test_a_malformed_run_file_is_still_a_user_error(tmp_path, bad):
    run_dir = _good_run(tmp_path / "run")
    (run_dir / "run.json").write_text(bad)
    with pytest.raises(LabError, match="run.json: "):  # a user error (exit 3), not any crash naming the file
        check_run(run_dir)


def _message_loss_run(tmp_path: Path, heal: list[tuple[str, str, dict]]) -> dict:
    run_dir = _good_run(tmp_path / "run")
    _plan(run_dir, [{"at_s": 1, "fault": "message-loss", "target": "executor"}])
    _history(run_dir, [("wf-1", "ok")], nemesis=[
        ("invoke", "message-loss", {"action": "start", "index": 0}),
        ("ok", "message-loss", {"action": "start", "role": "executor", "killed": ["executor-1", "executor-2"],
                                "effect_at_heal": "purged"}),
        *heal])
    return check_run(run_dir)["gates"]["faults"]


def test_a_fault_that_acts_at_heal_is_applied_only_when_its_heal_touched_something(tmp_path):
    healed = [("invoke", "message-loss", {"action": "heal", "index": 0}),
              ("ok", "message-loss", {"action": "heal", "purged": {"mistral_executor": 3}, "lost_messages": 3})]
    gate = _message_loss_run(tmp_path / "lost", healed)
    assert gate["valid"] is True and gate["faults"][0]["applied"] is True

    nothing = [("invoke", "message-loss", {"action": "heal", "index": 0}),
               ("ok", "message-loss", {"action": "heal", "purged": {}, "lost_messages": 0})]
    gate = _message_loss_run(tmp_path / "nothing", nothing)
    assert gate["valid"] == "unknown" and gate["applied"] == 0
    assert gate["faults"][0]["reason"] == "healed, but touched nothing (purged: empty)"


def test_a_fault_that_acts_at_heal_without_a_heal_answer_is_not_applied(tmp_path):
    gate = _message_loss_run(tmp_path / "unhealed", [])
    assert gate["valid"] == "unknown" and "its heal never answered" in gate["faults"][0]["reason"]
    failed = [("invoke", "message-loss", {"action": "heal", "index": 0}),
              ("info", "message-loss", {"action": "heal", "error": "LabError: broker gone"})]
    gate = _message_loss_run(tmp_path / "failed", failed)
    assert gate["valid"] == "unknown" and "heal failed" in gate["faults"][0]["reason"]
    assert "broker gone" in gate["faults"][0]["reason"]


def _built_to_fail_run(tmp_path: Path, end_state: str) -> Path:
    """Two executions of a workflow the spec declares built to fail (expect: error), ending `end_state`."""
    snap = snapshot([execution("wf-1", end_state), execution("wf-2", end_state)],
                    [task("T1", wf="wf-1", state=end_state), task("T2", wf="wf-2", state=end_state)],
                    [action("A1", "T1", state=end_state), action("A2", "T2", state=end_state)])
    run = write_run(tmp_path, snap=snap, records=witness("r1", "A1", "T1", wf="wf-1") +
                    witness("r2", "A2", "T2", wf="wf-2"))
    with HistoryWriter(run / "history.jsonl") as writer:
        for process, ex_id in enumerate(("wf-1", "wf-2")):
            writer.append(process, "invoke", "start", {"workflow": "lab_fail", "expect": "ERROR"}, key=ex_id,
                          node="api-1")
            writer.append(process, "ok", "start", "RUNNING", key=ex_id, node="api-1")
    return run


def test_a_workflow_built_to_fail_that_ends_error_is_progress_and_its_work_as_declared(tmp_path):
    result = check_run(_built_to_fail_run(tmp_path, "ERROR"))
    progress, work = result["gates"]["progress"], result["gates"]["expected-work"]
    assert progress["valid"] is True and progress["failed_as_declared"] == 2, progress
    assert work["valid"] is True and "2 execution(s) built to fail (expect: error) ended ERROR" in work["note"]
    assert result["valid"] is True, result.get("reasons")


def test_a_workflow_built_to_fail_that_never_ends_error_is_no_progress(tmp_path):
    result = check_run(_built_to_fail_run(tmp_path, "SUCCESS"))
    assert result["gates"]["progress"]["valid"] == "unknown"
    assert result["gates"]["progress"]["reason"].endswith("and none built to fail (expect: error) ended ERROR")
