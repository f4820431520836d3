"""recover's plan (lab.operators.plan) and how its calls are made (lab.operators.apply), without HTTP."""
from __future__ import annotations

from checker.stuck import Thresholds, inspect_snapshot
from checker.tests.stuck_fixtures import NOW, action, execution, task
from lab.operators.apply import Applier
from lab.operators.plan import parse_completions, plan_recovery


def items_of(executions, tasks, actions):
    snapshot = {"taken_at": NOW, "executions": executions, "tasks": tasks, "action_executions": actions}
    return inspect_snapshot(snapshot, NOW, Thresholds())


def with_items_world():
    """A with-items task failed by the heartbeat check on two of its iterations."""
    return items_of([execution("ex", state="ERROR")],
                    [task("t", "ex", "each", "ERROR", state_info="Heartbeat wasn't received.", with_items=True)],
                    [action("a1", "t", state="ERROR"), action("a2", "t", state="ERROR"),
                     action("a3", "t", state="SUCCESS")])


def test_a_with_items_rerun_needs_every_failed_iteration_allowed_and_never_resets():
    items = with_items_world()
    partly = plan_recovery(items, allow_rerun=["a1"])
    assert partly.calls == [] and "a2 again too, which is not allowed" in partly.notes[0]
    both = plan_recovery(items, allow_rerun=["a1", "a2"])
    # reset false: only the failed iterations run again, never a3 that succeeded
    assert [(c.path, c.body) for c in both.calls] == [("/v2/tasks/t", {"id": "t", "state": "RUNNING",
                                                                        "reset": False})]


def test_unknown_ids_are_noted_not_acted_on():
    plan = plan_recovery(with_items_world(), allow_rerun=["nope"], completions={"gone": None}, executions=["other"])
    assert plan.calls == []
    assert any("--allow-rerun nope" in n for n in plan.notes) and any("--complete gone" in n for n in plan.notes)
    assert any("--execution other: not listed" in n for n in plan.notes)


def test_execution_filter_takes_the_sub_workflows_of_a_root():
    items = items_of([execution("root"), execution("child", parent_task="t-sub", root="root"), execution("other")],
                     [task("t-sub", "root", "sub", "RUNNING", kind="WORKFLOW"), task("t-c", "child", "j", "WAITING"),
                      task("t-o", "other", "j", "WAITING")], [])
    plan = plan_recovery(items, executions=["root"])
    assert [c.path for c in plan.calls] == ["/v2/executions/child", "/v2/executions/root"]
    assert plan.calls[1].precondition["sub_workflows"] == ["child"]


def test_parse_completions():
    assert parse_completions(["a=1", 'b={"x": [1]}', "c"]) == {"a": 1, "b": {"x": [1]}, "c": None}


class StubMistral:
    """get/put of lab.operators.api.Mistral over dicts; `on_put` lets a test play the engine."""

    def __init__(self, rows, on_put=None):
        self.rows, self.on_put, self.puts = rows, on_put, []

    def get(self, collection, item_id):
        return dict(self.rows[(collection, item_id)])

    def put(self, path, body):
        self.puts.append(path)
        if self.on_put:
            self.on_put(path, self.rows)
        return {"state": body.get("state")}


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def __call__(self):
        return self.now


def sub_workflow_plan():
    items = items_of([execution("root"), execution("child", parent_task="t-sub", root="root")],
                     [task("t-sub", "root", "sub", "RUNNING", kind="WORKFLOW"), task("t-c", "child", "j", "WAITING")], [])
    rows = {("executions", i["execution_id"]): {"state": "RUNNING", "updated_at": i["evidence"]["updated_at"]}
            for i in items}
    return plan_recovery(items), rows


def test_a_parent_that_mistral_moves_after_its_sub_workflow_failed_is_left_alone():
    plan, rows = sub_workflow_plan()

    def engine(path, rows):  # failing the child hands ERROR up: the parent's task and execution move
        if path.endswith("/child"):
            rows[("executions", "root")] = {"state": "ERROR", "updated_at": "2026-01-01 12:00:01"}

    mistral, clock = StubMistral(rows, engine), FakeClock()
    outcomes = Applier(mistral, wait_s=30, sleep=clock.sleep, clock=clock).run(plan)
    assert mistral.puts == ["/v2/executions/child"]
    assert [o["outcome"] for o in outcomes] == ["ok", "skipped"]
    assert "already ERROR" in outcomes[1]["precondition_seen"]


def test_a_parent_still_unchanged_after_the_wait_is_failed_too():
    plan, rows = sub_workflow_plan()
    mistral, clock = StubMistral(rows), FakeClock()
    outcomes = Applier(mistral, wait_s=30, sleep=clock.sleep, clock=clock).run(plan)
    assert mistral.puts == ["/v2/executions/child", "/v2/executions/root"]
    assert clock.now >= 30  # it gave Mistral the whole wait first
    assert [o["outcome"] for o in outcomes] == ["ok", "ok"]


def test_an_action_whose_result_arrived_meanwhile_is_not_overwritten():
    items = items_of([execution("ex")], [task("t", "ex", "p", "RUNNING")], [action("a", "t")])
    plan = plan_recovery(items, allow_rerun=["a"])
    mistral = StubMistral({("action_executions", "a"): {"state": "SUCCESS"}, ("tasks", "t"): {"state": "SUCCESS"}})
    outcomes = Applier(mistral, wait_s=0).run(plan)
    assert mistral.puts == [] and [o["outcome"] for o in outcomes] == ["skipped", "skipped"]
