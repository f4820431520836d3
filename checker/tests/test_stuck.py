"""checker.stuck: what cannot finish by itself, from Mistral's records alone (the rules of `inspect`)."""
from __future__ import annotations

import pytest

from checker.completion import check_completion
from checker.anomalies import stuck_kind
from checker.stuck import CHECKER_SLACK_S, Thresholds, find_abandoned, find_stuck, inspect_snapshot
from history.pairing import Operation
from checker.tests.stuck_fixtures import NOW, action, execution, stuck_world, task

DEFAULT = Thresholds()


def snap(executions, tasks, actions, **extra):
    return {"taken_at": NOW, "executions": executions, "tasks": tasks, "action_executions": actions, **extra}


def kinds(items):
    return {item["execution_id"]: f"{item['class']}/{item['kind']}" for item in items}


def test_each_class_is_found_and_the_healthy_slow_execution_is_not():
    found = kinds(inspect_snapshot(snap(*stuck_world()), NOW, DEFAULT))
    assert found == {"ex-join": "stuck-execution/waiting-join",
                     "ex-running-action": "stuck-execution/running-action",
                     "ex-idle": "stuck-execution/idle-task",
                     "ex-unfinished": "stuck-execution/unfinished-workflow",
                     "ex-abandoned": "abandoned-action/heartbeat"}


def test_running_task_without_a_running_action_is_running_task():
    world = snap([execution("ex")], [task("t", "ex", "t_1", "RUNNING")], [action("a", "t", state="SUCCESS")])
    assert kinds(find_stuck(world, NOW, DEFAULT)) == {"ex": "stuck-execution/running-task"}


def test_a_slow_action_that_keeps_heartbeating_is_never_stuck_however_long_it_runs():
    # Running for a day; its heartbeats keep moving updated_at (the API's only trace of last_heartbeat).
    world = snap([execution("ex", created=86400, updated=86400)], [task("t", "ex", "slow", "RUNNING", updated=86400)],
                 [action("a", "t", created=86400, updated=DEFAULT.heartbeat_window_s)])
    assert find_stuck(world, NOW, DEFAULT) == []


@pytest.mark.parametrize("age, flagged", [
    (3600 + 300 + CHECKER_SLACK_S - 5, False),   # never heartbeated, but Mistral would not have failed it yet
    (3600 + 300 + CHECKER_SLACK_S + 5, True),    # first_heartbeat_timeout + window + one checker pass: overdue
])
def test_an_action_that_never_heartbeated_gets_the_first_heartbeat_timeout(age, flagged):
    world = snap([execution("ex", created=age, updated=age)], [task("t", "ex", "p", "RUNNING", updated=age)],
                 [action("a", "t", created=age)])
    assert bool(find_stuck(world, NOW, DEFAULT)) is flagged


def test_a_known_last_heartbeat_is_used_as_is():
    """The lab's snapshot reads last_heartbeat from the database: no first-heartbeat allowance is guessed."""
    ran = action("a", "t", created=1000)
    world = snap([execution("ex", created=1000, updated=1000)], [task("t", "ex", "p", "RUNNING", updated=1000)], [ran])
    lab_thresholds = Thresholds(heartbeat_window_s=10, first_heartbeat_timeout_s=30, quiet_s=10)
    assert kinds(find_stuck(world, NOW, lab_thresholds)) == {"ex": "stuck-execution/running-action"}
    ran["last_heartbeat"] = "2026-01-01 11:59:50"  # a heartbeat 10 s ago: alive
    assert find_stuck(world, NOW, lab_thresholds) == []


def test_an_execution_that_moved_recently_is_not_stuck_yet():
    world = snap([execution("ex", updated=60)], [task("t", "ex", "join", "WAITING", updated=60)], [])
    assert find_stuck(world, NOW, DEFAULT) == []
    assert kinds(find_stuck(world, NOW, Thresholds(quiet_s=30))) == {"ex": "stuck-execution/waiting-join"}


def test_a_delayed_task_waits_by_design():
    world = snap([execution("ex")], [task("t", "ex", "later", "RUNNING_DELAYED")], [])
    assert find_stuck(world, NOW, DEFAULT) == []


def test_a_sub_workflow_stuck_makes_its_parent_stuck_and_is_listed_first():
    world = snap([execution("parent"), execution("child", parent_task="t-sub", root="parent")],
                 [task("t-sub", "parent", "sub", "RUNNING", kind="WORKFLOW"), task("t-c", "child", "j", "WAITING")], [])
    items = find_stuck(world, NOW, DEFAULT)
    assert [(i["execution_id"], i["depth"]) for i in items] == [("child", 1), ("parent", 0)]
    assert items[1]["evidence"]["sub_workflows_not_terminal"] == ["child"]


def test_a_live_sub_workflow_keeps_its_parent_live():
    world = snap([execution("parent"), execution("child", parent_task="t-sub", root="parent")],
                 [task("t-sub", "parent", "sub", "RUNNING", kind="WORKFLOW"), task("t-c", "child", "p", "RUNNING")],
                 [action("a", "t-c", created=100, updated=5)])
    assert find_stuck(world, NOW, DEFAULT) == []


def test_paused_executions_only_on_request():
    world = snap([execution("ex", state="PAUSED")], [task("t", "ex", "t_1", "SUCCESS")], [])
    assert find_stuck(world, NOW, DEFAULT) == []
    assert kinds(find_stuck(world, NOW, Thresholds(include_paused=True))) == {"ex": "stuck-execution/paused"}


def test_redelivered_and_heartbeat_failures_are_abandoned_actions_other_errors_are_not():
    info = "Action was redelivered, but it cannot be re-run safely"
    world = snap([execution("e1", state="ERROR"), execution("e2", state="ERROR"), execution("e3", state="ERROR")],
                 [task("t1", "e1", "p", "ERROR", state_info=f"{info}."),
                  task("t2", "e2", "p", "ERROR", state_info="Heartbeat wasn't received."),
                  task("t3", "e3", "p", "ERROR", state_info="ZeroDivisionError")],
                 [action("a1", "t1", state="ERROR"), action("a2", "t2", state="ERROR")])
    found = find_abandoned(world, NOW)
    assert kinds(found) == {"e1": "abandoned-action/redelivered", "e2": "abandoned-action/heartbeat"}
    assert {i["execution_id"]: i["action_execution_ids"] for i in found} == {"e1": ["a1"], "e2": ["a2"]}


def test_the_kind_is_the_lab_completion_checkers_kind():
    """inspect names a stuck execution as the lab's anomaly does: the same stuck_kind over the same facts."""
    executions, tasks, actions = stuck_world()
    world = snap(executions, tasks, actions)
    started = [Operation(id=i, process=0, f="start", value=e["state"], status="ok", call=2 * i, ret=2 * i + 1,
                         key=e["id"], invoke_value={}, node="api-1") for i, e in enumerate(executions)]
    report = check_completion(started, world, [], started, settle_s=0.0, quiet_since=NOW - 3600)
    lab = {s["id"]: stuck_kind(s) for s in report["stuck"]}
    inspected = {i["execution_id"]: i["kind"] for i in find_stuck(world, NOW, DEFAULT)}
    assert {k: v for k, v in lab.items() if k != "ex-healthy-slow"} == inspected
    assert "ex-healthy-slow" in lab  # the lab, judging after its settle window, calls it stuck; inspect waits
