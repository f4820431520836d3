"""The promise and the named anomalies on hand-made run directories: a defect is INVALID, an ERROR caused by a
fault beyond the promise is expected degradation, and every anomaly is placed against both levels."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from checker.promise import FaultWindow, judge, outage_s, reconnect_allowance_s, touched_nodes
from checker.run_checks import check_run
from checker.tests.runfixtures import action, execution, snapshot, task, witness, write_run
from history.writer import HistoryWriter

SHORT = {"action_heartbeat": {"check_interval": "2", "max_missed_heartbeats": "5"}}  # a 10 s window
COUNTS = {"api": 2, "engine": 2, "executor": 2}
START_WALL = 1767225600.0  # 2026-01-01 00:00:00 UTC: the fixtures' Mistral timestamps are right after it


def _window(fault: str, nodes: list[str], seconds: float, done: dict | None = None) -> FaultWindow:
    window = FaultWindow(0, fault, None, {}, 0.0, seconds, nodes, done or {})
    judge(window, COUNTS, SHORT, 10.0)
    return window


# ---------------------------------------------------------------- the promise of one window
def test_reconnect_back_off_stretches_the_outage():
    # rabbit retries sleep 1, 3, 5 s: an 8 s outage is noticed at 9 s, plus kombu's 1 s reconnect delay.
    assert reconnect_allowance_s(8.0, 1.0, 2.0, 30.0, 1.0) == pytest.approx(2.0)
    assert outage_s("partition", {"engine"}, 8.0, SHORT) == pytest.approx(10.0)


def test_an_8_s_engine_partition_is_beyond_a_10_s_heartbeat_window_once_reconnection_counts():
    window = _window("partition", ["engine-1", "engine-2"], 8.0)
    assert window.outage_s == pytest.approx(10.0)
    assert window.inside == {"designed": False, "spec": False}
    assert "heartbeat window 10" in window.reasons["designed"]


@pytest.mark.parametrize("fault, nodes, seconds, done, designed, spec", [
    ("kill", ["api-1"], 5, {}, True, True),                        # an API node lost while another serves
    ("kill", ["api-1", "api-2"], 5, {}, True, False),              # no API left: beyond the spec
    ("stop", ["engine-1"], 5, {}, True, True),                     # engine stopped while another runs
    ("kill", ["executor-1"], 5, {}, False, True),                  # lost executor: its action may be failed
    ("pause", ["executor-1"], 5, {}, True, True),                  # paused inside the heartbeat window
    ("pause", ["executor-1"], 25, {}, False, True),                # paused past it
    ("stop", ["executor-2"], 5, {}, True, True),                   # graceful stop: actions must complete
    ("broker", ["broker"], 3, {}, True, True),                     # short broker outage
    ("broker", ["broker"], 30, {}, False, True),                   # long broker outage: designed gives up
    ("message-loss", [], 5, {}, False, True),                      # at-most-once RPC: outside designed
    ("scale", ["executor-2"], 5, {"role": "executor", "to": 1, "killed": ["executor-2"]}, False, True),
    ("scale", ["engine-2"], 5, {"role": "engine", "to": 1, "stopped": ["engine-2"]}, True, True),
])
def test_each_fault_kind_is_placed_against_both_levels(fault, nodes, seconds, done, designed, spec):
    window = _window(fault, nodes, seconds, done)
    assert window.inside == {"designed": designed, "spec": spec}, window.reasons


def test_the_reason_names_how_the_run_s_rpc_driver_acknowledges():
    """Same placement under both drivers (a redelivered run_action is failed, not rerun), but the reason says
    which delivery the level rests on: oslo at-most-once, or kombu (rpc_implementation, before 21.0.0)."""
    oslo = FaultWindow(0, "kill", None, {}, 0.0, 5, ["executor-1"], {})
    judge(oslo, COUNTS, SHORT, 10.0)
    kombu = FaultWindow(0, "kill", None, {}, 0.0, 5, ["executor-1"], {})
    judge(kombu, COUNTS, {**SHORT, "DEFAULT": {"rpc_implementation": "kombu"}}, 10.0)
    assert oslo.inside == kombu.inside == {"designed": False, "spec": True}
    assert "at-most-once" in oslo.reasons["designed"] and "kombu" not in oslo.reasons["designed"]
    assert "kombu driver acknowledges after processing" in kombu.reasons["designed"]


def test_an_api_cut_from_the_database_is_an_api_loss_not_a_heartbeat_matter():
    window = _window("partition", ["api-1", "db"], 12.0)
    assert window.inside == {"designed": True, "spec": True}, window.reasons


def test_touched_nodes_come_from_what_the_fault_reported():
    assert touched_nodes({"killed": ["executor-1"]}, "random:executor") == ["executor-1"]
    assert touched_nodes({"cut": {"engine-1": ["broker"]}}, "engine") == ["engine-1"]
    assert touched_nodes({"node": "db", "mode": "stop"}, None) == ["db"]
    assert touched_nodes({"role": "executor", "added": ["executor-3"]}, "executor") == []


# ---------------------------------------------------------------- hand-made runs
def _run(tmp_path: Path, snap: dict, records: list, nemesis: list[tuple[str, str, dict, float]],
         starts: list[str] = ("wf-1",), promise: str | None = None) -> Path:
    """A run dir: starts acknowledged at t=0, nemesis events at the given seconds since START_WALL."""
    run_dir = write_run(tmp_path / "run", records=records, snap=snap)
    events = []
    for process, ex_id in enumerate(starts):
        tasks = sum(1 for t in snap["tasks"] if t.get("workflow_execution_id") == ex_id) or None
        events += [(0.0, process, "invoke", "start", {"workflow": "lab_ref", "expected_tasks": tasks}, ex_id),
                   (0.1, process, "ok", "start", "RUNNING", ex_id)]
    events += [(at, "nemesis", kind, fault, value, None) for kind, fault, value, at in nemesis]
    events.sort(key=lambda e: e[0])
    lines = [{"index": i, "time": int(at * 1e9), "process": proc, "type": kind, "f": f, "value": value,
              "key": key, "node": "api-1" if proc != "nemesis" else None}
             for i, (at, proc, kind, f, value, key) in enumerate(events)]
    (run_dir / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = json.loads((run_dir / "run.json").read_text())
    run.update({"start_wall": START_WALL, "overrides": SHORT})
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "topology.json").write_text(json.dumps({"apis": 2, "engines": 2, "executors": 2}))
    spec = {"name": "t", **({"promise": promise} if promise else {})}
    (run_dir / "test.yaml").write_text(yaml.safe_dump(spec))
    return run_dir


def _fault(fault: str, index: int, start: float, end: float, done: dict) -> list[tuple[str, str, dict, float]]:
    return [("invoke", fault, {"action": "start", "index": index, "target": None, "options": {}}, start),
            ("ok", fault, {"action": "start", **done}, start + 0.1),
            ("invoke", fault, {"action": "heal", "index": index}, end),
            ("ok", fault, {"action": "heal", "healed": True}, end + 0.1),  # as the runner records it: no index
            ("invoke", "heal", {"action": "heal-cluster"}, end + 60.0),
            ("ok", "heal", {"action": "heal-cluster", "repaired": []}, end + 61.0)]


def _heartbeat_error_run(tmp_path: Path, outage: float) -> Path:
    snap = snapshot([execution(state="ERROR", state_info="Failure caused by error in tasks: t_1")],
                    [task("t1", state="ERROR")],
                    [action("a1", "t1", state="ERROR", state_info="Heartbeat wasn't received.")])
    return _run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=False),
                _fault("broker", 0, 1.0, 1.0 + outage, {"node": "broker", "mode": "stop"}))


def test_errors_after_a_broker_outage_far_beyond_the_heartbeat_window_are_expected_degradation(tmp_path):
    result = check_run(_heartbeat_error_run(tmp_path, outage=40.0))
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "abandoned-action" and anomaly["defect"] is False
    assert anomaly["inside"] == {"designed": False, "spec": True}
    assert anomaly["action_execution_ids"] == ["a1"] and anomaly["faults"][0]["label"] == "#0 broker broker"
    assert result["checkers"]["succeeded-despite-faults"]["valid"] is False  # the checker still counts it
    assert result["valid"] is not False  # ... but it is not a defect: no INVALID for it alone
    assert result["ha_gap_count"] == 1 and result["defect_count"] == 0


def test_the_same_error_inside_the_heartbeat_window_is_a_defect(tmp_path):
    result = check_run(_heartbeat_error_run(tmp_path, outage=2.0))
    assert result["anomalies"][0]["inside"]["designed"] is True
    assert result["anomalies"][0]["defect"] is True
    assert result["valid"] is False
    assert result["reasons"][0].startswith("DEFECT abandoned-action/heartbeat")


def test_at_the_spec_level_a_long_outage_error_is_a_defect(tmp_path):
    run_dir = _heartbeat_error_run(tmp_path, outage=40.0)
    (run_dir / "test.yaml").write_text(yaml.safe_dump({"name": "t", "promise": "spec"}))
    result = check_run(run_dir)
    assert result["promise"]["level"] == "spec"
    assert result["anomalies"][0]["defect"] is True and result["valid"] is False


def test_an_error_no_fault_touched_is_errored_inside_promise(tmp_path):
    snap = snapshot([execution(state="ERROR", state_info="boom")], [task("t1", state="ERROR", state_info="boom")],
                    [action("a1", "t1", state="ERROR", state_info="ValueError: boom")])
    result = check_run(_run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=False), []))
    (anomaly,) = result["anomalies"]
    assert (anomaly["class"], anomaly["defect"], anomaly["faults"]) == ("errored-inside-promise", True, [])


def test_the_heartbeat_reason_is_found_on_the_task_when_the_action_has_none(tmp_path):
    """Mistral 23's API leaves the action's state_info empty; the task says "Heartbeat wasn't received."."""
    snap = snapshot([execution(state="ERROR")], [task("t1", state="ERROR", state_info="Heartbeat wasn't received.")],
                    [action("a1", "t1", state="ERROR", state_info=None)])
    result = check_run(_run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=False), []))
    assert result["anomalies"][0]["class"] == "abandoned-action"


def test_a_completed_run_recorded_as_error_is_a_lost_result(tmp_path):
    snap = snapshot([execution(state="ERROR")], [task("t1", state="ERROR")],
                    [action("a1", "t1", state="ERROR", state_info="Heartbeat wasn't received.")])
    result = check_run(_run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=True), []))
    assert result["anomalies"][0]["class"] == "lost-result"


def test_an_execution_stuck_after_the_settle_window_is_always_a_defect_with_its_kind(tmp_path):
    """Every task SUCCESS, the execution still RUNNING: the scale-churn symptom after a graceful engine stop."""
    snap = snapshot([execution(state="RUNNING")], [task("t1", state="SUCCESS")], [action("a1", "t1")],
                    taken_at=START_WALL + 200)
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1"),
                   _fault("scale", 0, 1.0, 16.0, {"role": "engine", "from": 2, "to": 1, "stopped": ["engine-2"]}))
    result = check_run(run_dir)
    stuck = [a for a in result["anomalies"] if a["class"] == "stuck-execution"]
    assert [(a["kind"], a["defect"]) for a in stuck] == [("unfinished-workflow", True)]
    assert [f["label"] for f in stuck[0]["faults"]] == ["#0 scale engine-2"]  # still running: touched until now
    assert stuck[0]["inside"] == {"designed": True, "spec": True}
    assert result["valid"] is False


def test_a_retried_non_idempotent_task_that_ran_twice_is_a_duplicate_run_naming_both_executors(tmp_path):
    snap = snapshot([execution()], [task("t1")],
                    [action("a1", "t1", state="ERROR", state_info="Heartbeat wasn't received."),
                     action("a2", "t1")])
    records = witness("r1", "a1", "t1", executor="executor-1", start=100.0) + \
        witness("r2", "a2", "t1", executor="executor-2", start=115.0)
    run_dir = _run(tmp_path, snap, records,
                   _fault("pause", 0, 1.0, 26.0, {"paused": ["executor-1"]}))
    result = check_run(run_dir)
    dup = [a for a in result["anomalies"] if a["class"] == "duplicate-run"]
    assert len(dup) == 1 and dup[0]["defect"] is True
    assert dup[0]["action_execution_ids"] == ["a1", "a2"]
    assert dup[0]["nodes"] == ["executor-1", "executor-2"]
    assert result["valid"] is False


def test_promise_windows_are_in_results(tmp_path):
    result = check_run(_heartbeat_error_run(tmp_path, outage=40.0))
    (window,) = result["promise"]["windows"]
    assert result["promise"]["heartbeat_window_s"] == 10.0
    # The window closes at the fault's own heal, not at the final whole-cluster heal a minute later.
    assert window["fault_s"] == pytest.approx(40.0, abs=0.2) and window["outage_s"] > window["fault_s"]
    assert window["inside"] == {"designed": False, "spec": True}


def test_history_writer_fixture_is_still_usable(tmp_path):
    """The hand-made history format above is the real one: the writer reads it back the same way."""
    with HistoryWriter(tmp_path / "h.jsonl") as writer:
        writer.append("nemesis", "invoke", "kill", {"action": "start", "index": 0})
    assert json.loads((tmp_path / "h.jsonl").read_text())["process"] == "nemesis"


def test_an_action_the_kombu_driver_redelivered_and_mistral_failed_is_an_abandoned_action(tmp_path):
    """rpc_implementation = kombu (20.2.0): the lost executor's run_action comes back flagged redelivered and the
    next executor fails it; the same class as the heartbeat's failure, its own kind, never errored-inside-promise."""
    info = ("Request to run an action was redelivered, but it cannot be re-run safely. The only safe thing to do "
            "is fail it [action=std.noop].")
    snap = snapshot([execution(state="ERROR", state_info="Failure caused by error in tasks: t_1")],
                    [task("t1", state="ERROR")], [action("a1", "t1", state="ERROR", state_info=info)])
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1", phase_end=False),
                   _fault("broker", 0, 1.0, 41.0, {"node": "broker", "mode": "stop"}))
    (anomaly,) = check_run(run_dir)["anomalies"]
    assert (anomaly["class"], anomaly["kind"]) == ("abandoned-action", "redelivered")
    assert "on redelivery (kombu)" in anomaly["summary"] and "run interrupted" in anomaly["summary"]
