"""`mistral-lab shrink`: ddmin (property tests), the recorded schedule, the explicit `nemesis.schedule` spec
field, and the whole search against fake oracles (no Docker): exact minimal results, budget, log, Ctrl-C and
bad input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cluster.errors import LabError
from history.writer import HistoryWriter
from lab.cli import _register_commands, app
from lab.cli.shrink import shrink_run
from lab.findings.ddmin import ddmin
from lab.findings.shrink import LOG_FILE, SMALLEST_FILE, Shrinker, load_log, load_smallest
from lab.findings.shrink_candidates import role_needs, steps_of
from lab.findings.shrink_run import Replayed, RunReplay, Target, choose_target, load_run, recorded_steps
from lab.run import build_parts, planned_schedule
from lab.spec import TestSpec as Spec, dump_spec, load_spec, validate_spec
from nemesis.schedule import PinnedSchedule, Schedule

runner = CliRunner()
_register_commands()

KINDS = ["sequence", "parallel", "join", "with-items"]
SPEC = {"name": "sig", "description": "executor stop", "cluster": {"apis": 2, "engines": 2, "executors": 3},
        "mistral_config": {"action_heartbeat.check_interval": 2},
        "workload": {"name": "reference", "concurrency": 4, "rate": 3,
                     "params": {"kinds": ",".join(KINDS), "n": 3, "seconds": 1}},
        "nemesis": {"faults": [{"fault": "kill", "target": "random:executor"}], "interval_s": 20, "duration_s": 5},
        "time_limit_s": 160, "seed": 8}
# Six faults that ran (start ok), one that did not (start info): the recorded schedule keeps the six.
FAULTS = [
    ("kill", "executor-1", {}, 10.0),
    ("kill", "executor-2", {}, 30.0),      # step 2
    ("pause", "api-2", {}, 50.0),
    ("kill", "engine-1", {}, 70.0),
    ("scale", "executor", {"delta": -1, "kill": False}, 90.0),  # step 5
    ("pause", "engine-2", {}, 110.0),
]
DEFECT = {"class": "abandoned-action", "kind": "heartbeat", "defect": True, "nodes": ["executor-2"],
          "faults": [{"label": "#1 kill executor-2"}], "summary": "failed by the heartbeat check"}


def _history(path: Path, faults=FAULTS, failed_at: int | None = 3) -> None:
    with HistoryWriter(path) as writer:
        writer.append(0, "invoke", "start", None, key="e1", node="api-1")
        for index, (fault, target, options, at_s) in enumerate(faults):
            if failed_at is not None and index == failed_at:  # a start that failed: it never ran
                writer.append("nemesis", "invoke", "stop", {"action": "start", "index": 99, "at_s": at_s - 5,
                                                            "target": "engine-9", "options": {},
                                                            "duration_s": 2.0, "seed": 1})
                writer.append("nemesis", "info", "stop", {"action": "start", "error": "LabError: no node"})
            writer.append("nemesis", "invoke", fault, {"action": "start", "index": index, "at_s": at_s,
                                                       "target": target, "options": options, "duration_s": 5.0,
                                                       "seed": 100 + index, "description": f"{fault} {target}"})
            done = {"role": "executor", "from": 3, "to": 2, "stopped": ["executor-3"]} if fault == "scale" \
                else {"killed": [target]}
            writer.append("nemesis", "ok", fault, {"action": "start", **done})
            writer.append("nemesis", "invoke", fault, {"action": "heal", "index": index})
            writer.append("nemesis", "ok", fault, {"action": "heal"})
        writer.append("nemesis", "invoke", "heal", {"action": "heal-cluster"})
        writer.append("nemesis", "ok", "heal", {"action": "heal-cluster", "repaired": []})


def _run_dir(tmp_path: Path, anomalies=(DEFECT,), spec: dict | None = None) -> Path:
    run_dir = tmp_path / "store" / "sig" / "20261201T000000"
    run_dir.mkdir(parents=True)
    test = validate_spec(dict(spec or SPEC))
    (run_dir / "test.yaml").write_text(dump_spec(test, {"lab": "run-sig", "planned_faults": []}))
    (run_dir / "results.json").write_text(json.dumps({"valid": False, "anomalies": list(anomalies)}))
    _history(run_dir / "history.jsonl")
    return run_dir


class Oracle:
    """Reproduces iff fault steps 2 and 5 (of the recorded six) run and there are >= 2 executors."""

    def __init__(self, needed=((10 + 20.0, "kill"), (90.0, "scale")), executors: int = 2) -> None:
        self.needed, self.executors = set(needed), executors
        self.specs: list[Spec] = []

    def __call__(self, spec: Spec) -> Any:
        self.specs.append(spec)
        present = {(s["at_s"], s["fault"]) for s in steps_of(spec)}
        ok = self.needed <= present and spec.topology("x").executors >= self.executors
        return Replayed(ok, f"/runs/{len(self.specs)}")


# ---------------------------------------------------------------- ddmin
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, max(n - 1, 0)),
                                                                          max_size=n))))
def test_ddmin_finds_exactly_the_needed_elements(case) -> None:
    n, needed = case
    needed = {i for i in needed if i < n}
    calls: list[list[int]] = []

    def test(config: list[int]) -> bool:
        calls.append(config)
        return needed <= set(config)

    assert ddmin(list(range(n)), test) == sorted(needed)
    assert len(calls) == len({tuple(c) for c in calls})  # no configuration is tested twice


@settings(max_examples=200, deadline=None)
@given(st.lists(st.frozensets(st.integers(0, 15), min_size=1, max_size=4), min_size=1, max_size=4))
def test_ddmin_result_is_1_minimal_for_monotone_oracles(minimal_sets) -> None:
    """Monotone: a superset of a passing configuration passes (it contains one of the minimal sets)."""
    items = list(range(16))
    test = lambda config: any(m <= set(config) for m in minimal_sets)  # noqa: E731
    result = ddmin(items, test)
    assert test(result)
    assert result == sorted(result)  # a subsequence, in the original order
    for drop in result:
        assert not test([i for i in result if i != drop]), (result, drop)


def test_ddmin_reaches_the_empty_list_and_keeps_a_single_needed_element() -> None:
    assert ddmin(["a", "b", "c"], lambda config: True) == []
    assert ddmin(["a"], lambda config: config == ["a"]) == ["a"]
    assert ddmin([], lambda config: True) == []


def test_ddmin_lets_a_stop_through() -> None:
    def test(config):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ddmin([1, 2, 3], test)


# ---------------------------------------------------------------- the explicit schedule
STEPS = [{"at_s": 12.5, "fault": "scale", "target": "executor", "options": {"kill": False}, "duration_s": 15,
          "seed": 7},
         {"at_s": 40, "fault": "kill", "target": "executor-2", "duration_s": 5}]


def test_a_pinned_schedule_replays_exactly_its_steps_within_the_time_limit() -> None:
    decisions = list(PinnedSchedule(STEPS).decisions(60))
    assert [(d.index, d.at_s, d.fault, d.target, d.duration_s, d.seed) for d in decisions] == [
        (0, 12.5, "scale", "executor", 15.0, 7), (1, 40.0, "kill", "executor-2", 5.0, 0)]
    assert [d.fault for d in PinnedSchedule(STEPS).decisions(44)] == ["scale"]  # the kill would end at 45 s


def test_a_spec_with_a_schedule_loads_builds_and_plans_it(tmp_path: Path) -> None:
    path = tmp_path / "pinned.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "nemesis": {"schedule": STEPS}, "time_limit_s": 60}))
    spec = load_spec(str(path))
    _, schedule = build_parts(spec, "x")
    assert isinstance(schedule, PinnedSchedule)
    assert [(p["fault"], p["at_s"]) for p in planned_schedule(schedule, spec.time_limit_s)] == [
        ("scale", 12.5), ("kill", 40.0)]
    # An old-style spec still draws its faults from the seed.
    assert isinstance(build_parts(load_spec("lab-test"), "x")[1], Schedule)


@pytest.mark.parametrize("nemesis, message", [
    ({"faults": ["kill"], "schedule": STEPS}, "either faults .* or schedule"),
    ({"schedule": {"at_s": 1}}, "a list of steps"),
    ({"schedule": [{"at_s": 1, "duration_s": 2}]}, "step 1: a mapping with at least fault"),
    ({"schedule": [{"fault": "kill", "target": "api-1", "at_s": -1, "duration_s": 2}]}, "step 1: at_s"),
    ({"schedule": [{"fault": "kill", "target": "api-1", "at_s": 1, "duration_s": 0}]}, "step 1: duration_s"),
    ({"schedule": [{"fault": "kill", "target": "api-1", "at_s": 1, "duration_s": 2, "when": 3}]},
     "step 1: unknown field 'when'"),
    ({"schedule": [{"fault": "explode", "at_s": 1, "duration_s": 2}]}, "step 1: unknown fault 'explode'"),
    ({"schedule": [{"fault": "kill", "target": "witness", "at_s": 1, "duration_s": 2}]}, "never a fault target"),
    ({"schedule": [{"fault": "kill", "target": "api-1", "at_s": 1, "duration_s": 5},
                   {"fault": "kill", "target": "api-2", "at_s": 3, "duration_s": 5}]}, "step 2: starts at 3 s"),
])
def test_bad_schedules_are_one_line_naming_the_step(tmp_path: Path, nemesis: dict, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "nemesis": nemesis}))
    with pytest.raises(LabError, match=message) as info:
        load_spec(str(path))
    assert "\n" not in str(info.value) and "field 'nemesis'" in str(info.value)


# ---------------------------------------------------------------- the stored run
def test_recorded_steps_keep_the_faults_that_started_with_their_timing_and_seed(tmp_path: Path) -> None:
    original = load_run(_run_dir(tmp_path))
    assert original.target == Target("abandoned-action", "heartbeat")
    assert [(s["fault"], s["target"], s["at_s"], s["seed"]) for s in original.steps] == [
        (f, t, at, 100 + i) for i, (f, t, _, at) in enumerate(FAULTS)]
    assert original.steps[4]["options"] == {"delta": -1, "kill": False}


def test_a_scale_on_a_random_role_is_pinned_to_the_role_it_picked(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    _history(path, faults=[("scale", "random", {}, 5.0)], failed_at=None)
    from history.reader import read_history

    assert recorded_steps(read_history(path))[0]["target"] == "executor"


def test_role_needs_follow_the_targets() -> None:
    steps = [{"fault": "kill", "target": "executor-2,api-1"}, {"fault": "scale", "target": "engine",
                                                                "options": {"delta": -2}},
             {"fault": "pause", "target": "random:notifier"},
             {"fault": "partition", "target": "api-3", "options": {"topology": "isolate", "from": "db"}},
             {"fault": "broker", "target": None}]
    assert role_needs(steps) == {"executor": 2, "api": 3, "engine": 3, "notifier": 1}


def test_choose_target_defaults_to_the_first_defect_and_honours_class_and_kind() -> None:
    anomalies = [{"class": "lost-result", "kind": "x", "defect": False}, DEFECT,
                 {"class": "stuck-execution", "kind": "idle-task", "defect": True}]
    assert choose_target(anomalies) == Target("abandoned-action", "heartbeat")
    assert choose_target(anomalies, cls="stuck-execution") == Target("stuck-execution", "idle-task")
    assert choose_target(anomalies, kind="idle-task") == Target("stuck-execution", "idle-task")
    with pytest.raises(LabError, match="no defect anomaly lost-result .*its defects: abandoned-action/heartbeat"):
        choose_target(anomalies, cls="lost-result")
    with pytest.raises(LabError, match="shows no defect anomaly"):
        choose_target(anomalies[:1])


# ---------------------------------------------------------------- the search
def test_the_search_finds_the_exact_minimal_spec_and_logs_every_step(tmp_path: Path) -> None:
    oracle = Oracle()
    out = tmp_path / "out"
    result = Shrinker(load_run(_run_dir(tmp_path)), oracle, out, budget=100).run()
    assert result.stopped == "done" and result.runs == len(oracle.specs)
    best = result.smallest
    assert [(s["fault"], s["target"], s["at_s"]) for s in steps_of(best)] == [
        ("kill", "executor-2", 30.0), ("scale", "executor", 90.0)]
    assert best.time_limit_s == 95  # halved 160 -> 80 fails (the scale ends at 95 s): the floor
    assert (best.workload["concurrency"], best.workload["rate"]) == (1, 0.5)
    assert best.workload["params"]["kinds"] == "sequence"  # ddmin over kinds: the oracle needs none in particular
    assert (best.topology("x").apis, best.topology("x").engines, best.topology("x").executors) == (1, 1, 2)
    assert best.name == "sig-shrunk" and best.seed == 8 and best.mistral_config == SPEC["mistral_config"]

    # smallest.yaml is a loadable spec that builds exactly the two pinned faults
    smallest = load_smallest(out)
    assert smallest.to_dict() == best.to_dict()
    plan = planned_schedule(build_parts(smallest, "x")[1], smallest.time_limit_s)
    assert [(p["fault"], p["at_s"]) for p in plan] == [("kill", 30.0), ("scale", 90.0)]

    log = load_log(out)
    assert log[0]["phase"] == "original" and log[0]["reproduced"] is True and log[0]["runs"] == 0
    assert len(log) == len(oracle.specs) + 1
    for record in log[1:]:
        assert set(record) >= {"step", "phase", "candidate", "spec", "run_dir", "reproduced", "seconds", "runs"}
        validate_spec(record["spec"])
    assert [r["step"] for r in log] == list(range(len(log)))
    assert {r["phase"] for r in log[1:]} == {"faults", "time", "load", "kinds", "topology"}
    assert log[1]["candidate"].startswith("faults: drop #4,#5,#6, keep #1,#2,#3")
    assert log[1]["run_dir"] == "/runs/1" and log[1]["reproduced"] is False
    topology = [r["candidate"] for r in log if r["phase"] == "topology"]
    assert topology == ["executors 3 -> 2", "engines 2 -> 1", "apis 2 -> 1"]  # never below the 2 executors
    summary = result.summary()
    assert summary["original"]["faults"] == 6 and summary["smallest"]["faults"] == 2
    assert summary["original"]["topology"]["executors"] == 3


def test_the_budget_bounds_the_runs_and_the_best_so_far_is_written(tmp_path: Path) -> None:
    oracle = Oracle()
    out = tmp_path / "out"
    # ddmin: #1-3, #4-6, then quarters #1-2, #3-4, #5, #6, then complements: #3-6, #1-2+#5-6 reproduces (8th)
    result = Shrinker(load_run(_run_dir(tmp_path)), oracle, out, budget=9).run()
    assert len(oracle.specs) == 9 and result.runs == 9 and result.stopped == "budget"
    reproduced = [r for r in load_log(out) if r["reproduced"] and r["phase"] != "original"]
    assert [s["at_s"] for s in steps_of(result.smallest)] == [10.0, 30.0, 90.0, 110.0]
    assert reproduced and load_smallest(out).to_dict() == reproduced[-1]["spec"] == result.smallest.to_dict()


def test_tries_per_candidate_retry_a_flaky_candidate_and_count_against_the_budget(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky(spec: Spec) -> bool:  # only every second run of anything shows the defect
        calls.append(1)
        return len(calls) % 2 == 0

    out = tmp_path / "out"
    result = Shrinker(load_run(_run_dir(tmp_path)), flaky, out, budget=4, tries=2).run()
    log = load_log(out)
    assert len(calls) == 4 and result.runs == 4
    assert [(r["runs"], r["reproduced"]) for r in log[1:]] == [(2, True), (2, True)]
    assert log[1]["run_dir"] is None  # a plain-bool oracle has no run directories


def test_an_inconclusive_run_is_replaced_and_logged(tmp_path: Path) -> None:
    answers = [Replayed(False, "/r/1", lab_error="LabError: up failed", conclusive=False),
               Replayed(False, "/r/2", valid=False), Replayed(False, "/r/3", valid="unknown", conclusive=False),
               Replayed(False, "/r/4", valid="unknown", conclusive=False)]

    def replay(spec: Spec) -> Replayed:
        return answers.pop(0)

    out = tmp_path / "out"
    result = Shrinker(load_run(_run_dir(tmp_path)), replay, out, budget=4).run()
    log = load_log(out)
    assert log[1]["runs"] == 2 and log[1]["inconclusive"] == 1 and log[1]["run_dirs"] == ["/r/1", "/r/2"]
    assert log[1]["lab_errors"] == ["LabError: up failed"] and log[1]["reproduced"] is False
    # Two inconclusive runs of the second candidate: it is not refuted, the budget ends the search.
    assert log[2]["runs"] == 2 and log[2]["inconclusive"] == 2
    assert result.runs == 4 and result.stopped == "budget"


def test_ctrl_c_between_or_inside_runs_stops_with_the_best_spec_written(tmp_path: Path) -> None:
    oracle = Oracle(needed=())  # everything reproduces: faults #1-3, then #1-2 succeed, Ctrl-C on the third

    def interrupted_third(spec: Spec) -> Any:
        if len(oracle.specs) == 2:
            raise KeyboardInterrupt
        return oracle(spec)

    out = tmp_path / "out"
    result = Shrinker(load_run(_run_dir(tmp_path)), interrupted_third, out).run()
    assert result.stopped == "interrupted" and len(steps_of(load_smallest(out))) == 2
    assert result.runs == 3 and len(load_log(out)) == 3  # the original and the two finished candidates

    def cut_short(spec: Spec) -> Any:  # run_test caught the Ctrl-C and returned an interrupted run
        return Replayed(True, "/runs/x", interrupted=True)

    out2 = tmp_path / "out2"
    result = Shrinker(load_run(_run_dir(tmp_path / "b")), cut_short, out2).run()
    assert result.stopped == "interrupted" and result.runs == 1
    assert load_log(out2)[-1]["interrupted"] is True and load_log(out2)[-1]["reproduced"] is False
    assert len(steps_of(load_smallest(out2))) == 6  # nothing reproduced: the pinned original


def test_a_run_replay_judges_the_stored_results_by_the_target(tmp_path: Path) -> None:
    class Outcome:
        def __init__(self, run_dir):
            self.run_dir, self.interrupted, self.lab_error = run_dir, False, None

    seen: list[str] = []

    def fake_run_test(spec, store, lab_name=None):
        seen.append(lab_name)
        run_dir = tmp_path / f"r{len(seen)}"
        run_dir.mkdir()
        anomalies = [dict(DEFECT, defect=len(seen) == 2)]
        valid = "unknown" if len(seen) == 3 else False
        (run_dir / "results.json").write_text(json.dumps({"valid": valid, "anomalies": anomalies}))
        return Outcome(run_dir)

    replay = RunReplay(Target("abandoned-action", "heartbeat"), tmp_path, lab_name="shrink-t",
                       run_fn=fake_run_test)
    first, second, third = replay(Spec(name="a")), replay(Spec(name="a")), replay(Spec(name="a"))
    assert (bool(first), bool(second), bool(third)) == (False, True, False)
    assert second.run_dir == str(tmp_path / "r2") and (first.valid, first.conclusive) == (False, True)
    assert (third.valid, third.conclusive) == ("unknown", False)  # UNKNOWN without the defect: says nothing
    assert seen == ["shrink-t"] * 3
    assert not bool(RunReplay(Target("abandoned-action", "other-kind"), tmp_path, run_fn=fake_run_test)(
        Spec(name="a")))


# ---------------------------------------------------------------- the command
def test_shrink_run_prints_the_summary(tmp_path: Path, capsys) -> None:
    run_dir = _run_dir(tmp_path)
    result = shrink_run(run_dir, budget=100, replay=Oracle())
    assert (run_dir / "shrink" / SMALLEST_FILE).exists() and (run_dir / "shrink" / LOG_FILE).exists()
    printed = capsys.readouterr()
    assert "faults" in printed.out and "6" in printed.out and "runs " in printed.out
    assert "reproduced" in printed.err and result.stopped == "done"
    lines = [line for line in printed.err.splitlines() if line.startswith("[shrink]")]
    assert len(lines) == len(result.log)  # the header, then one line per candidate (not the stored run)
    assert "faults: drop #4,#5,#6" in lines[1] and "not reproduced" in lines[1] and "runs 1/100" in lines[1]


@pytest.mark.parametrize("make, args, message", [
    (lambda tmp: tmp / "nowhere", [], "is not a run directory (no such directory)"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", [], "no test.yaml, results.json, history.jsonl"),
    (lambda tmp: _run_dir(tmp, anomalies=[dict(DEFECT, defect=False)]), [], "shows no defect anomaly"),
    (lambda tmp: _run_dir(tmp), ["--class", "lost-result"], "has no defect anomaly lost-result"),
    (lambda tmp: _run_dir(tmp), ["--kind", "nope"], "has no defect anomaly \\*/nope"),
    (lambda tmp: _run_dir(tmp), ["--budget", "0"], "--budget 0: must be at least 1"),
    (lambda tmp: _run_dir(tmp), ["--tries-per-candidate", "0"], "must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_3(tmp_path: Path, make, args: list[str], message: str) -> None:
    from lab.cli import main

    run_dir = make(tmp_path)
    result = runner.invoke(app, ["shrink", str(run_dir), "--store", str(tmp_path / "store2"), *args])
    assert isinstance(result.exception, LabError), result.output
    assert result.exception.exit_code == 3
    import re

    assert re.search(message.replace("(", "\\(").replace(")", "\\)") if "\\" not in message else message,
                     str(result.exception)), str(result.exception)
    assert "\n" not in str(result.exception)
    assert main  # the entry point turns the LabError into one line and exit 3 (lab.cli.main)
