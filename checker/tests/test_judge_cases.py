"""A judge that cannot be right for the wrong reason: each case of issue 22 as a stored run directory on disk,
judged by check_run as `mistral-lab check RUN_DIR` does (cases 2, 4 and 9 are in lab/tests, 3 and 10 in the
run pipeline's and the workloads' tests)."""
from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import yaml

from checker.run_checks import check_run, reasons
from checker.tests.runfixtures import action, execution, snapshot, task, witness, write_run
from checker.tests.test_anomalies import START_WALL, _fault, _run
from checker.tests.test_rpc import _rpc_fault
from checker.verdict import judged_parts
from history.verdict import merge

HEARTBEAT = "Heartbeat wasn't received."
DROP = {"method": "run_action", "side": "receive", "action": "drop"}


def _succeeded() -> dict:
    return snapshot([execution()], [task("t1")], [action("a1", "t1")], taken_at=START_WALL + 100)


def _abandoned() -> dict:
    return snapshot([execution(state="ERROR", state_info="Failure caused by error in tasks: t_1")],
                    [task("t1", state="ERROR", state_info=HEARTBEAT)],
                    [action("a1", "t1", state="ERROR", state_info=HEARTBEAT)], taken_at=START_WALL + 100)


def _abandoned_beside_a_success(tmp_path: Path, nemesis: list) -> Path:
    """wf-1's action abandoned on executor-1 (failed by the heartbeat check); wf-2 succeeded on executor-2."""
    snap = _abandoned()
    snap["executions"].append(execution("wf-2"))
    snap["tasks"].append(task("t2", wf="wf-2"))
    snap["action_executions"].append(action("a2", "t2"))
    records = witness("r1", "a1", "t1", phase_end=False) + witness("r2", "a2", "t2", wf="wf-2", executor="executor-2")
    return _run(tmp_path, snap, records, nemesis, starts=("wf-1", "wf-2"))


# ---------------------------------------------------------------- 1. an rpc fault that matched nothing
def test_an_rpc_fault_whose_heal_matched_no_message_is_unknown_not_valid(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, _succeeded(), witness("r1", "a1", "t1"),
                   _rpc_fault(0, 1.0, 11.0, ["executor-1"], DROP, {"matches": []}))
    result = check_run(run_dir)
    assert result["valid"] == "unknown"
    assert "touched nothing (matches: empty)" in result["gates"]["faults"]["reason"]


def test_an_rpc_fault_that_matched_a_message_applied(tmp_path: Path) -> None:
    match = {"time": START_WALL + 3, "node": "executor-1", "method": "run_action", "side": "receive",
             "action": "drop", "ids": {"action_execution_id": "a1"}}
    run_dir = _run(tmp_path, _succeeded(), witness("r1", "a1", "t1"),
                   _rpc_fault(0, 1.0, 11.0, ["executor-1"], DROP, {"matches": [match]}))
    assert check_run(run_dir)["gates"]["faults"]["valid"] is True


# ---------------------------------------------------------------- 5. a fault whose heals failed
def _pause_then(heal: str, cluster_heal: str) -> list[tuple[str, str, dict, float]]:
    return [("invoke", "pause", {"action": "start", "index": 0, "target": "executor-1", "options": {}}, 1.0),
            ("ok", "pause", {"action": "start", "paused": ["executor-1"]}, 1.1),
            ("invoke", "pause", {"action": "heal", "index": 0}, 61.0),
            (heal, "pause", {"action": "heal", **({"error": "docker unpause timed out"} if heal != "ok" else {})},
             61.1),
            ("invoke", "heal", {"action": "heal-cluster"}, 70.0),
            (cluster_heal, "heal", {"action": "heal-cluster", "repaired": []}, 71.0)]


def test_a_fault_whose_heals_failed_lasts_until_the_snapshot_and_makes_the_run_unknown(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, _abandoned(), witness("r1", "a1", "t1", phase_end=False),
                   _pause_then("info", "info"))
    result = check_run(run_dir)
    (window,) = result["promise"]["windows"]
    assert window["end_rule"] == "never healed: until the final snapshot" and window["fault_s"] == 99.0
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "abandoned-action" and anomaly["defect"] is False  # beyond the heartbeat window
    assert result["valid"] == "unknown"
    assert "heal failed" in result["gates"]["faults"]["reason"]


def test_a_failed_heal_ends_at_the_whole_cluster_heal_when_that_succeeded(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, _abandoned(), witness("r1", "a1", "t1", phase_end=False), _pause_then("info", "ok"))
    (window,) = check_run(run_dir)["promise"]["windows"]
    assert window["end_rule"] == "whole-cluster heal" and window["fault_s"] == 70.0


def test_the_same_run_with_its_heal_recorded_is_judged_on_its_window(tmp_path: Path) -> None:
    result = check_run(_abandoned_beside_a_success(tmp_path, _pause_then("ok", "ok")))
    assert result["gates"]["faults"]["valid"] is True and result["valid"] is True
    assert result["promise"]["windows"][0]["end_rule"] == "healed"


# ---------------------------------------------------------------- 6. gates whose data is missing
def test_without_test_yaml_a_fault_whose_start_failed_is_noticed(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, _succeeded(), witness("r1", "a1", "t1"),
                   [("invoke", "kill", {"action": "start", "index": 0, "target": "executor-1"}, 1.0),
                    ("info", "kill", {"action": "start", "error": "no such container"}, 1.1)])
    (run_dir / "test.yaml").unlink()
    result = check_run(run_dir)
    assert result["valid"] == "unknown"
    assert "no test.yaml" in result["gates"]["faults"]["reason"]
    assert "start failed: no such container" in result["gates"]["faults"]["reason"]


def test_without_test_yaml_and_without_faults_the_plan_is_unknown(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, _succeeded(), witness("r1", "a1", "t1"), [])
    (run_dir / "test.yaml").unlink()
    assert check_run(run_dir)["gates"]["faults"]["valid"] == "unknown"


def test_a_success_execution_with_no_task_is_a_missing_run(tmp_path: Path) -> None:
    snap = snapshot([execution()], [], [], taken_at=START_WALL + 100)
    result = check_run(write_run(tmp_path / "run", starts=[("wf-1", "ok", "api-1")], snap=snap,
                                 checkers=["completion"]))
    assert result["gates"]["expected-work"]["valid"] is False
    assert result["valid"] is False and result["anomalies"][0]["class"] == "missing-run"


def test_success_executions_without_recorded_expected_work_are_not_passed(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", starts=[("wf-1", "ok", "api-1")], snap=_succeeded(),
                        records=witness("r1", "a1", "t1"))
    lines = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    lines[0]["value"] = {"workflow": "lab_ref"}  # a start that recorded nothing of its workflow's shape
    (run_dir / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    gate = check_run(run_dir)["gates"]["expected-work"]
    assert gate["valid"] == "unknown" and gate["unchecked"] == 1


def test_a_workflow_file_whose_shape_is_decided_at_run_time_says_it_could_not_check(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", starts=[("wf-1", "ok", "api-1")], snap=_succeeded(),
                        records=witness("r1", "a1", "t1"))
    lines = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    lines[0]["value"] = {"workflow": "user_wf"}
    (run_dir / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "workload": {**run["workload"], "name": "workflow"}}))
    gate = check_run(run_dir)["gates"]["expected-work"]
    assert gate["valid"] is True and gate["note"].startswith("could not check 1 of 1 SUCCESS executions")


# ---------------------------------------------------------------- 7. one merge decides
def test_a_checker_false_only_about_expected_degradation_gives_no_invalid_line(tmp_path: Path) -> None:
    run_dir = _abandoned_beside_a_success(tmp_path, _fault("broker", 0, 1.0, 41.0, {"node": "broker", "mode": "stop"}))
    result = check_run(run_dir)
    assert result["checkers"]["succeeded-despite-faults"]["valid"] is False
    assert result["valid"] is True
    assert not [line for line in result["reasons"] if line.startswith(("INVALID", "DEFECT", "UNKNOWN"))]
    assert any(line.startswith("EXPECTED (checker succeeded-despite-faults)") for line in result["reasons"])


def test_the_verdict_and_its_reasons_never_disagree() -> None:
    """Every combination of checker and gate verdicts, with and without (defect) anomalies of the checker."""
    rng = random.Random(22)
    values = (True, False, "unknown", None)
    for combo in itertools.product(values, values, values):
        for anomaly_defects in ((), (False,), (True,), (False, True)):
            results = {"a": {"valid": combo[0]}, "b": {"valid": combo[1]}}
            gates = {"g": {"valid": combo[2]}}
            anomalies = [{"checker": rng.choice("ab"), "defect": d, "class": "x", "kind": "y", "summary": "s"}
                         for d in anomaly_defects]
            parts = judged_parts(results, gates, anomalies)
            valid = merge([p["verdict"] for p in parts] + [not any(a["defect"] for a in anomalies)])
            lines = reasons(results, gates, {"anomalies": anomalies, "parts": parts})
            failing = [line for line in lines if line.startswith(("INVALID", "DEFECT"))]
            undecided = [line for line in lines if line.startswith("UNKNOWN")]
            assert (valid is False) == bool(failing), (combo, anomaly_defects, lines)
            assert (valid is True) == (not failing and not undecided), (combo, anomaly_defects, lines)


# ---------------------------------------------------------------- 8. faults listed, none scheduled
def test_a_spec_that_lists_faults_but_scheduled_none_is_never_valid(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, _succeeded(), witness("r1", "a1", "t1"), [])
    (run_dir / "test.yaml").write_text(yaml.safe_dump({
        "name": "t", "nemesis": {"faults": ["broker"], "interval_s": 45, "duration_s": 35}, "planned_faults": []}))
    result = check_run(run_dir)
    assert result["valid"] == "unknown"
    assert "lists faults but the run scheduled none" in result["gates"]["faults"]["reason"]


# ---------------------------------------------------------------- 2. which faults touch an anomaly
def test_a_long_cut_of_another_executor_does_not_excuse_an_abandoned_action(tmp_path: Path) -> None:
    cut = {"topology": "isolate", "cut": {"executor-2": ["broker"], "broker": ["executor-2"]}}
    result = check_run(_abandoned_beside_a_success(tmp_path, _fault("partition", 0, 1.0, 41.0, cut)))
    abandoned = next(a for a in result["anomalies"] if a["class"] == "abandoned-action")
    assert abandoned["nodes"] == ["executor-1"] and abandoned["faults"] == []
    assert abandoned["defect"] is True and result["valid"] is False


def test_a_long_cut_of_the_executor_that_ran_it_is_expected_degradation(tmp_path: Path) -> None:
    cut = {"topology": "isolate", "cut": {"executor-1": ["broker"], "broker": ["executor-1"]}}
    result = check_run(_abandoned_beside_a_success(tmp_path, _fault("partition", 0, 1.0, 41.0, cut)))
    abandoned = next(a for a in result["anomalies"] if a["class"] == "abandoned-action")
    assert abandoned["faults"][0]["acted_on"] == ["executor-1"] and abandoned["defect"] is False


def test_a_broker_outage_touches_every_anomaly(tmp_path: Path) -> None:
    result = check_run(_abandoned_beside_a_success(tmp_path, _fault("broker", 0, 1.0, 41.0, {"node": "broker"})))
    abandoned = next(a for a in result["anomalies"] if a["class"] == "abandoned-action")
    assert abandoned["faults"][0]["acted_on"] == ["the cluster"] and abandoned["defect"] is False
