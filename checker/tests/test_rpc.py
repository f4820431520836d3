"""RPC and clock faults against both promise levels, the rpc checker's consequence per matched message, and the
anomalies that cite the messages they follow - on hand-made run directories."""
from __future__ import annotations

import json

import pytest
import yaml

from checker.promise import FaultWindow, fault_windows, judge, rpc_placement
from checker.run_checks import check_run
from checker.tests.runfixtures import action, execution, snapshot, task, witness
from checker.tests.test_anomalies import COUNTS, SHORT, START_WALL, _run
from history.events import Event

LONG_FIRST = {**SHORT, "action_heartbeat": {**SHORT["action_heartbeat"], "first_heartbeat_timeout": "30"}}


def _match(method: str, side: str, kind: str, node: str, at: float, index: int = 0, **ids) -> dict:
    """A match record as the hook writes it (at: seconds after START_WALL)."""
    return {"time": START_WALL + at, "node": node, "pid": 7, "rule": "r1", "index": index, "method": method,
            "side": side, "action": kind, "call": method == "start_workflow", "ids": ids}


def _rpc_window(method: str, side: str, kind: str, nodes: list[str], matches: list[dict] | None,
                seconds: float = 10.0, counts: dict | None = None, overrides: dict | None = None,
                delay_ms: int = 0, count: int = 1) -> FaultWindow:
    rule = {"id": "r1", "method": method, "side": side, "action": kind, "count": count, "probability": 1.0,
            "delay_ms": delay_ms, "seed": 1}
    window = FaultWindow(0, "rpc", None, {}, 0.0, seconds, nodes, {"nodes": nodes, "rule": rule}, matches=matches)
    judge(window, counts or COUNTS, overrides or LONG_FIRST, 10.0)
    return window


# ---------------------------------------------------------------- placement, per rpc action
@pytest.mark.parametrize("method, side, kind, node, designed, spec", [
    ("on_action_complete", "receive", "drop", "engine-1", False, True),   # lost after the ack; the spec's acks fix it
    ("run_action", "receive", "drop", "executor-1", False, True),
    ("run_action", "send", "drop", "engine-1", False, False),             # never reached the broker
    ("on_action_complete", "send", "drop", "executor-1", False, False),
    ("start_workflow", "receive", "drop", "engine-1", False, True),
    ("run_action", "receive", "duplicate", "executor-1", False, True),    # oslo cannot; the spec forbids a 2nd run
    ("on_action_complete", "receive", "duplicate", "engine-2", False, True),
    ("run_action", "receive", "crash-after", "executor-2", False, True),  # an executor lost mid-action
    ("on_action_complete", "send", "crash-after", "executor-1", False, True),
    ("start_workflow", "receive", "crash-after", "engine-1", True, True),  # an engine lost while another runs
    ("start_workflow", "send", "crash-after", "api-1", True, True),
])
def test_each_rpc_action_is_placed_against_both_levels(method, side, kind, node, designed, spec):
    window = _rpc_window(method, side, kind, [node], [_match(method, side, kind, node, 3.0)])
    assert window.inside == {"designed": designed, "spec": spec}, window.reasons
    assert all(window.reasons[level].startswith(f"{kind} {side} {method}") for level in ("designed", "spec"))


def test_a_dropped_result_is_no_longer_judged_as_an_engine_lost_while_others_ran():
    window = _rpc_window("on_action_complete", "receive", "drop", ["engine-1"],
                         [_match("on_action_complete", "receive", "drop", "engine-1", 3.0)])
    assert "at-most-once" in window.reasons["designed"] and "never resends" in window.reasons["designed"]
    assert "acknowledgement after processing" in window.reasons["spec"]


@pytest.mark.parametrize("method, delay_ms, designed", [
    ("on_action_complete", 3000, True),     # shorter than the 10 s heartbeat window
    ("on_action_complete", 15000, False),   # the finished action is no longer heartbeated: failed first
    ("report_running_actions", 9000, True),
    ("run_action", 20000, True),            # first_heartbeat_timeout is 30 s here
    ("run_action", 45000, False),
    ("start_workflow", 30000, True),        # a call: rpc_response_timeout 60 s
    ("start_workflow", 70000, False),
    ("start_task", 120000, True),           # a cast nothing times out
])
def test_a_delay_is_inside_designed_while_shorter_than_what_times_the_message_out(method, delay_ms, designed):
    node = "executor-1" if method in ("on_action_complete", "report_running_actions") else "engine-1"
    side = "send" if node.startswith("executor") else "receive"
    window = _rpc_window(method, side, "delay", [node], [_match(method, side, "delay", node, 3.0)],
                         delay_ms=delay_ms)
    assert window.inside == {"designed": designed, "spec": True}, window.reasons


def test_lost_heartbeats_are_inside_designed_only_while_they_span_less_than_the_heartbeat_window():
    one = [_match("report_running_actions", "send", "drop", "executor-1", 3.0)]
    window = _rpc_window("report_running_actions", "send", "drop", ["executor-1"], one)
    assert window.inside == {"designed": True, "spec": False}, window.reasons  # one lost: 2 s of 10
    many = [_match("report_running_actions", "send", "drop", "executor-1", 1.0 + 2 * i, index=i) for i in range(8)]
    window = _rpc_window("report_running_actions", "send", "drop", ["executor-1"], many, seconds=16.0, count=0)
    assert window.inside == {"designed": False, "spec": False}
    assert "16 s vs heartbeat window 10 s" in window.reasons["designed"]
    assert "(8 of 8 messages outside)" in window.reasons["designed"]


def test_an_rpc_fault_that_matched_nothing_changed_nothing():
    window = _rpc_window("on_action_complete", "receive", "drop", ["engine-1"], [])
    assert window.inside == {"designed": True, "spec": True}
    assert "no message matched" in window.reasons["designed"]


def test_without_the_heal_s_matches_the_rule_is_judged_on_its_targets():
    window = _rpc_window("run_action", "receive", "crash-after", ["executor-1"], None)
    assert window.inside == {"designed": False, "spec": True}
    window = _rpc_window("run_action", "receive", "crash-after", ["executor-1"], None,
                         counts={"api": 1, "engine": 1, "executor": 1})
    assert window.inside == {"designed": False, "spec": False}  # the only executor: no executor kept running
    assert "no executor kept running" in window.reasons["spec"]


def test_crashing_the_only_engine_for_longer_than_the_heartbeat_window_is_outside_both_levels():
    window = _rpc_window("start_workflow", "receive", "crash-after", ["engine-1"],
                         [_match("start_workflow", "receive", "crash-after", "engine-1", 3.0)], seconds=25.0,
                         counts={"api": 1, "engine": 1, "executor": 1})
    assert window.inside == {"designed": False, "spec": False}, window.reasons


def test_rpc_placement_is_usable_per_message():
    placed = rpc_placement("run_action", "receive", "duplicate", "executor", overrides={}, window_s=300.0,
                           counts=COUNTS)
    assert (placed["designed"][0], placed["spec"][0]) == (False, True)
    assert "never run a non-idempotent action twice" in placed["spec"][1]


@pytest.mark.parametrize("nodes, offset, designed", [
    (["engine-1"], "+60", False),     # heartbeats look 60 s old: past the 10 s window
    (["engine-1"], "-60", False),     # stamps heartbeats 60 s in the past for the other engine
    (["engine-1"], "+5", True),       # under 10 s - one 2 s check_interval
    (["engine-1"], "+8", False),
    (["executor-1"], "+600", True),   # executors write no timestamp another node compares
    (["api-1"], "+30", True),
    (["api-1"], "+120", False),       # cron next fire times are computed on the API node
])
def test_clock_skew_is_placed_by_what_the_skewed_node_stamps(nodes, offset, designed):
    window = FaultWindow(0, "clock", "random:engine", {"offset_s": int(offset)}, 0.0, 20.0, nodes,
                         {"nodes": nodes, "offset": offset, "mode": "bump"})
    judge(window, COUNTS, SHORT, 10.0)
    assert window.inside == {"designed": designed, "spec": True}, window.reasons
    assert f"clock off by {int(offset):+d} s on {nodes[0]}" in window.reasons["designed"]


def test_an_rpc_window_keeps_its_matches_from_the_heal_and_counts_them_in_json():
    match = _match("run_action", "receive", "drop", "executor-1", 3.0)
    events = [Event(0, 1_000_000_000, "nemesis", "invoke", "rpc", {"action": "start", "index": 0, "target": None,
                                                                   "options": {}}),
              Event(1, 1_100_000_000, "nemesis", "ok", "rpc", {"action": "start", "nodes": ["executor-1"]}),
              Event(2, 9_000_000_000, "nemesis", "invoke", "rpc", {"action": "heal", "index": 0}),
              Event(3, 9_100_000_000, "nemesis", "ok", "rpc", {"action": "heal", "matches": [match]})]
    (window,) = fault_windows(events, START_WALL)
    assert window.matches == [match] and window.nodes == ["executor-1"]
    data = window.to_json()
    assert data["matched"] == 1 and "matches" not in data


# ---------------------------------------------------------------- hand-made runs
def _rpc_fault(index: int, start: float, end: float, nodes: list[str], rule: dict, heal: dict
               ) -> list[tuple[str, str, dict, float]]:
    return [("invoke", "rpc", {"action": "start", "index": index, "target": "random:" + nodes[0].split("-")[0],
                               "options": {}}, start),
            ("ok", "rpc", {"action": "start", "nodes": nodes, "rule": {"id": "r1", "count": 1, **rule}},
             start + 0.1),
            ("invoke", "rpc", {"action": "heal", "index": index}, end),
            (heal.pop("_type", "ok"), "rpc", {"action": "heal", **heal}, end + 0.1),
            ("invoke", "heal", {"action": "heal-cluster"}, end + 60.0),
            ("ok", "heal", {"action": "heal-cluster", "repaired": []}, end + 61.0)]


def _timed(record: dict, updated: str) -> dict:
    return {**record, "updated_at": f"2026-01-01 {updated}"}


def _lost_result_run(tmp_path, extra_executions=()):
    """An engine dropped a2's on_action_complete at 00:00:03; the heartbeat check failed it at 00:00:15."""
    snap = snapshot([{**execution(state="ERROR", state_info="Failure caused by error in tasks: t_1"),
                      "updated_at": "2026-01-01 00:00:16"}, *extra_executions],
                    [task("t1", state="ERROR", state_info="Heartbeat wasn't received.")],
                    [_timed(action("a2", "t1", state="ERROR", state_info=None), "00:00:15")])
    rule = {"method": "on_action_complete", "side": "receive", "action": "drop"}
    heal = {"matches": [_match("on_action_complete", "receive", "drop", "engine-1", 3.0, action_execution_id="a2")],
            "candidates": {"engine-1": 4}}
    run_dir = _run(tmp_path, snap, witness("r1", "a2", "t1", phase_end=True),
                   _rpc_fault(0, 1.0, 11.0, ["engine-1"], rule, heal),
                   starts=["wf-1", *(e["id"] for e in extra_executions)])
    return _edit_history(run_dir, lambda line: line.update(process=1) if line["key"] not in (None, "wf-1") else None)


def _edit_history(run_dir, edit):
    lines = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    for line in lines:
        edit(line)
    (run_dir / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return run_dir


def test_a_dropped_result_names_its_consequence_and_the_lost_result_cites_it(tmp_path):
    result = check_run(_lost_result_run(tmp_path))
    rpc = result["checkers"]["rpc"]  # added by itself: the history has an rpc fault
    assert rpc["valid"] is True and rpc["matched"] == 1
    (message,) = rpc["messages"]
    assert message["consequence"].startswith(
        "result lost: the witness saw the run complete; action ERROR by the heartbeat check "
        "(\"Heartbeat wasn't received\") 12 s after the message")
    assert message["consequence"].endswith("workflow wf-1 ERROR")
    assert (message["action_state"], message["workflow_state"], message["witness_runs"]) == ("ERROR", "ERROR", 1)
    assert message["seconds_to_error"] == pytest.approx(12.0)
    assert message["inside"] == {"designed": False, "spec": True}
    assert rpc["seconds_to_error"] == {"min": 12.0, "max": 12.0, "count": 1}
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "lost-result" and anomaly["defect"] is False  # an HA gap, not a defect
    assert anomaly["inside"] == {"designed": False, "spec": True}
    assert anomaly["rpc_messages"] == [{"method": "on_action_complete", "side": "receive", "action": "drop",
                                        "node": "engine-1", "time": START_WALL + 3.0, "index": 0,
                                        "fault": "#0 rpc engine-1"}]
    assert anomaly["summary"].endswith("; follows drop on_action_complete on engine-1 at 00:00:03.0 UTC")
    assert anomaly["evidence"][0] == "follows drop on_action_complete on engine-1 at 00:00:03.0 UTC"
    assert result["valid"] is not False and result["ha_gap_count"] == 1
    assert result["promise"]["windows"][0]["matched"] == 1


def test_an_error_the_dropped_messages_did_not_carry_is_not_excused_by_the_rpc_fault(tmp_path):
    other = {**execution("wf-2", state="ERROR", state_info="boom"), "updated_at": "2026-01-01 00:00:06"}
    run_dir = _lost_result_run(tmp_path, [other])
    result = check_run(run_dir)
    by_execution = {a["execution_id"]: a for a in result["anomalies"]}
    assert by_execution["wf-1"]["defect"] is False and by_execution["wf-1"]["faults"]
    assert by_execution["wf-2"]["faults"] == [] and by_execution["wf-2"]["defect"] is True
    assert "rpc_messages" not in by_execution["wf-2"]


def _duplicate_run(tmp_path, runs: int):
    snap = snapshot([execution()], [task("t1")], [_timed(action("a1", "t1"), "00:00:04")])
    records = [r for i in range(runs) for r in witness(f"r{i}", "a1", "t1", executor="executor-2",
                                                       start=START_WALL + 3 + i)]
    rule = {"method": "run_action", "side": "receive", "action": "duplicate"}
    heal = {"matches": [_match("run_action", "receive", "duplicate", "executor-2", 3.0, action_execution_id="a1",
                               task_execution_id="t1", workflow_execution_id="wf-1")]}
    return _run(tmp_path, snap, records, _rpc_fault(0, 1.0, 11.0, ["executor-2"], rule, heal))


def test_a_duplicated_run_action_the_witness_saw_twice_is_named_and_the_duplicate_run_cites_it(tmp_path):
    result = check_run(_duplicate_run(tmp_path, runs=2))
    (message,) = result["checkers"]["rpc"]["messages"]
    assert message["consequence"].startswith("duplicate delivered, witness saw 2 runs: Mistral did not deduplicate")
    assert message["witness_runs"] == 2 and message["action_state"] == "SUCCESS"
    assert result["checkers"]["rpc"]["consequences"] == {"duplicate run_action: 2 witness run(s)": 1}
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "duplicate-run" and anomaly["kind"] == "redelivered"
    assert anomaly["inside"] == {"designed": False, "spec": True}
    # The lab delivered it twice, which Mistral 23's transport never does: an HA gap at the designed level.
    assert anomaly["defect"] is False and result["ha_gap_count"] == 1 and result["valid"] is not False
    assert anomaly["evidence"][0].startswith("the lab delivered run_action twice")
    assert "follows duplicate run_action on executor-2 at 00:00:03.0 UTC" in anomaly["summary"]


def test_at_the_spec_level_a_duplicate_after_a_redelivery_is_a_defect(tmp_path):
    run_dir = _duplicate_run(tmp_path, runs=2)
    spec = yaml.safe_load((run_dir / "test.yaml").read_text())
    (run_dir / "test.yaml").write_text(yaml.safe_dump({**spec, "promise": "spec"}))
    result = check_run(run_dir)
    (anomaly,) = result["anomalies"]
    assert anomaly["defect"] is True and result["valid"] is False
    assert result["reasons"][0].startswith("DEFECT duplicate-run/redelivered") and "follows duplicate" in \
        result["reasons"][0]


def test_a_run_more_than_the_injected_duplicate_explains_stays_a_defect(tmp_path):
    result = check_run(_duplicate_run(tmp_path, runs=3))
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "duplicate-run" and anomaly["defect"] is True and result["valid"] is False


def test_a_duplicated_run_action_the_witness_saw_once_was_deduplicated(tmp_path):
    result = check_run(_duplicate_run(tmp_path, runs=1))
    (message,) = result["checkers"]["rpc"]["messages"]
    assert message["consequence"].startswith("duplicate delivered, witness saw one run: Mistral deduplicated")
    assert result["anomalies"] == [] and result["valid"] is True


def test_a_lost_run_action_never_ran_and_was_failed_by_the_heartbeat_check(tmp_path):
    snap = snapshot([execution(state="ERROR")], [task("t1", state="ERROR", state_info="Heartbeat wasn't received.")],
                    [_timed(action("a1", "t1", state="ERROR"), "00:00:43")])
    heal = {"matches": [_match("run_action", "receive", "drop", "executor-1", 3.0, action_execution_id="a1")]}
    run_dir = _run(tmp_path, snap, [], _rpc_fault(0, 1.0, 11.0, ["executor-1"],
                                                  {"method": "run_action", "side": "receive", "action": "drop"}, heal))
    result = check_run(run_dir)
    (message,) = result["checkers"]["rpc"]["messages"]
    assert message["consequence"].startswith("run_action lost: the action never ran (no witness run); action ERROR "
                                             "by the heartbeat check")
    assert message["seconds_to_error"] == pytest.approx(40.0)
    (anomaly,) = result["anomalies"]
    assert (anomaly["class"], anomaly["defect"], anomaly["inside"]) == \
        ("abandoned-action", False, {"designed": False, "spec": True})
    assert anomaly["rpc_messages"][0]["method"] == "run_action"


def test_lost_heartbeats_name_every_action_they_carried(tmp_path):
    snap = snapshot([execution(state="ERROR")], [task("t1", state="ERROR"), task("t2", state="SUCCESS")],
                    [_timed(action("a1", "t1", state="ERROR", state_info="Heartbeat wasn't received."), "00:00:20"),
                     _timed(action("a2", "t2"), "00:00:05")])
    matches = [_match("report_running_actions", "send", "drop", "executor-1", 1.0 + 2 * i, index=i,
                      action_execution_ids=["a1", "a2"]) for i in range(8)]
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1") + witness("r2", "a2", "t2", label="t_2"),
                   _rpc_fault(0, 1.0, 17.0, ["executor-1"], {"method": "report_running_actions", "side": "send",
                                                             "action": "drop", "count": 0}, {"matches": matches}))
    result = check_run(run_dir)
    message = result["checkers"]["rpc"]["messages"][0]
    assert message["action_state"] == {"ERROR": 1, "SUCCESS": 1}
    assert "1 failed by the heartbeat check, 1 of them completed per the witness (result lost)" in \
        message["consequence"]
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "lost-result" and anomaly["inside"] == {"designed": False, "spec": False}
    assert "and 7 more rpc message(s)" in anomaly["summary"]


def test_an_engine_crash_after_start_workflow_names_the_node_and_the_client_s_outcome(tmp_path):
    snap = snapshot([execution()], [task("t1")], [action("a1", "t1")])
    heal = {"matches": [_match("start_workflow", "receive", "crash-after", "engine-1", 0.05,
                               workflow_execution_id="wf-1", workflow="lab_ref")],
            "restarted": {"engine-1": 9.5}}
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1"),
                   _rpc_fault(0, 0.0, 11.0, ["engine-1"], {"method": "start_workflow", "side": "receive",
                                                           "action": "crash-after"}, heal))
    _edit_history(run_dir, lambda line: line.update(type="fail", value=None, error="timeout")
                  if line["process"] == 0 and line["type"] == "ok" else None)  # the client's start timed out
    result = check_run(run_dir)
    (message,) = result["checkers"]["rpc"]["messages"]
    assert message["consequence"] == ("engine-1 killed right after it handled start_workflow: workflow wf-1 "
                                      "SUCCESS; the client's start ended fail (timeout)")
    (anomaly,) = result["anomalies"]
    assert anomaly["class"] == "failed-but-created" and anomaly["inside"] == {"designed": True, "spec": True}
    assert "follows crash-after start_workflow on engine-1" in anomaly["summary"]


def test_the_rpc_checker_is_unknown_when_a_heal_returned_no_matches(tmp_path):
    snap = snapshot([execution()], [task("t1")], [action("a1", "t1")])
    run_dir = _run(tmp_path, snap, witness("r1", "a1", "t1"),
                   _rpc_fault(0, 1.0, 11.0, ["engine-1"], {"method": "on_action_complete", "side": "receive",
                                                           "action": "drop"}, {"_type": "info", "error": "boom"}))
    rpc = check_run(run_dir)["checkers"]["rpc"]
    assert rpc["valid"] == "unknown" and "returned no matched messages" in rpc["reason"]


def test_a_run_without_an_rpc_fault_gets_no_rpc_checker(tmp_path):
    snap = snapshot([execution()], [task("t1")], [action("a1", "t1")])
    assert "rpc" not in check_run(_run(tmp_path, snap, witness("r1", "a1", "t1"), []))["checkers"]

