"""The run pipeline's offline parts: specs, the store, results.json, report.html with nemesis bands and
planted anomalies, and the re-check of a stored run."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from checker.tests import runfixtures as fx
from history.writer import HistoryWriter
from cluster.errors import LabError
from lab.report import nemesis_periods, render_report
from lab.judge import judge_run_dir
from lab.run import build_parts, planned_schedule
from lab.spec import builtin_names, load_spec, spec_from_run
from lab.store import list_runs, new_run_dir, write_index
from history.reader import read_history

REQUIRED_TESTS = {"smoke", "kill-executors", "pause-executors", "partition-engines", "broker-outage", "db-outage",
                  "message-loss", "scale-churn", "chaos", "lab-test"}


def test_every_builtin_test_loads_and_builds() -> None:
    assert REQUIRED_TESTS <= set(builtin_names())
    for name in builtin_names():
        spec = load_spec(name)
        workload, schedule = build_parts(spec, "x")
        assert workload.name == spec.workload["name"]
        if name != "smoke":
            plan = planned_schedule(schedule, spec.time_limit_s)
            assert plan and all(p["at_s"] + p["duration_s"] <= spec.time_limit_s for p in plan), name


def _entry(item) -> tuple:
    item = {"fault": item} if isinstance(item, str) else item
    return item["fault"], json.dumps(item.get("options") or {}, sort_keys=True)


def test_every_builtin_plan_runs_each_fault_its_spec_names() -> None:
    """A spec's description promises its fault list; the plan must apply every entry at least once, unless
    the spec says the draw is random (chaos) - and then its description must say so too."""
    for name in builtin_names():
        spec = load_spec(name)
        faults = (spec.nemesis or {}).get("faults") or []
        if not faults:
            continue
        if spec.nemesis.get("draw") == "random" or faults == ["chaos"]:
            assert re.search(r"random|seeded mix", spec.description), name
            continue
        plan = planned_schedule(build_parts(spec, "x")[1], spec.time_limit_s)
        planned = {(p["fault"], json.dumps(p["options"] or {}, sort_keys=True)) for p in plan}
        missing = [_entry(f) for f in faults if _entry(f) not in planned]
        assert not missing, f"{name}: the plan never runs {missing}"


def test_lab_test_seed_10_runs_the_partition_its_description_names() -> None:
    spec = load_spec("lab-test")
    assert spec.seed == 10 and "cut off from the database" in spec.description
    plan = planned_schedule(build_parts(spec, "x")[1], spec.time_limit_s)
    assert sorted(p["fault"] for p in plan) == ["kill", "partition", "pause"]


def test_same_seed_same_fault_schedule_different_seed_differs() -> None:
    spec = load_spec("chaos")
    first = planned_schedule(build_parts(spec, "x")[1], spec.time_limit_s)
    again = planned_schedule(build_parts(spec, "x")[1], spec.time_limit_s)
    spec.seed += 1
    other = planned_schedule(build_parts(spec, "x")[1], spec.time_limit_s)
    assert first == again
    assert first != other


def test_unknown_test_is_one_clear_error() -> None:
    with pytest.raises(LabError, match="unknown test 'nope': built-in tests are .*smoke"):
        load_spec("nope")


@pytest.mark.parametrize("text, message", [
    ("name: t\nworkload: {name: reference}\ntime_limit_s: -5\n", ":3: field 'time_limit_s': must be a positive"),
    ("name: t\nworkload: {name: reference}\ncluster: {apis: 0}\n", ":3: field 'cluster': invalid api count 0"),
    ("name: t\nworkload: {name: reference}\nbogus: 1\n", ":3: field 'bogus': unknown field"),
    ("name: t\nworkload: [1, 2\n", "invalid YAML"),
])
def test_invalid_spec_names_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(LabError, match=message.replace("(", r"\(")):
        load_spec(str(path))


def test_unwritable_store_is_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LabError, match="cannot write the run store"):
        new_run_dir(blocker / "store", "smoke")


def _history_with_faults(path: Path) -> None:
    with HistoryWriter(path) as writer:
        writer.append(0, "invoke", "start", {"workflow": "lab_ref"}, key=fx.WF, node="api-1")
        writer.append("nemesis", "invoke", "kill", {"action": "start", "index": 0, "description": "kill executor-1"})
        writer.append("nemesis", "ok", "kill", {"action": "start", "killed": ["executor-1"]})
        writer.append(0, "ok", "start", "RUNNING", key=fx.WF, node="api-1")
        writer.append("nemesis", "invoke", "kill", {"action": "heal", "index": 0})
        writer.append("nemesis", "ok", "kill", {"action": "heal", "restarted": ["executor-1"]})
        writer.append("nemesis", "invoke", "pause", {"action": "start", "index": 1, "description": "pause engine-2"})
        writer.append("nemesis", "ok", "pause", {"action": "start"})
        writer.append("nemesis", "invoke", "heal", {"action": "heal-cluster"})
        writer.append("nemesis", "ok", "heal", {"action": "heal-cluster", "repaired": []})


def test_nemesis_periods_pair_starts_with_heals(tmp_path: Path) -> None:
    _history_with_faults(tmp_path / "history.jsonl")
    periods = nemesis_periods(read_history(tmp_path / "history.jsonl"))
    assert [p.label for p in periods] == ["kill executor-1", "pause engine-2 (whole-cluster heal)"]
    assert all(p.end_s >= p.start_s for p in periods)


def test_planted_duplicate_shows_in_results_and_report(tmp_path: Path) -> None:
    """A witness log where one action execution ran twice: results.json says invalid, the report says why."""
    run = tmp_path / "store" / "kill-executors" / "20260101T000000"
    records = fx.witness("r1", "a1", "t1") + fx.witness("r2", "a1", "t1", start=103.0)
    snap = fx.snapshot([fx.execution()], [fx.task("t1")], [fx.action("a1", "t1")])
    fx.write_run(run, starts=[(fx.WF, "ok", "api-1")], records=records, snap=snap,
                 checkers=["exactly-once", "completion"])
    _history_with_faults(run / "history.jsonl")
    (run / "test.yaml").write_text(yaml.safe_dump({"name": "kill-executors", "seed": 2,
                                                   "workload": {"name": "reference"}}))
    results = judge_run_dir(run, ["exactly-once", "completion"])
    saved = json.loads((run / "results.json").read_text())
    assert saved["valid"] is False and list(saved)[0] == "valid"
    assert results["checkers"]["exactly-once"]["valid"] is False
    html = render_report(run).read_text()
    assert "INVALID" in html
    assert 'class="nemesis"' in html and "kill executor-1" in html
    # The anomaly list names the duplicated action execution and says why it is illegal.
    assert ("<li><b>exactly-once</b>: redelivered: task &#x27;t_1&#x27; of execution wf-1 ran more than once "
            "(action execution(s) a1); ILLEGAL for a non-idempotent action</li>") in html
    for png in ("timeline.png", "latency.png", "throughput.png"):
        assert (run / png).read_bytes().startswith(b"\x89PNG")
    assert not re.search(r'(src|href)=["\']https?://', html)  # self-contained: opens from a file, no network
    runs = list_runs(tmp_path / "store")
    assert [(r.test, r.valid) for r in runs] == [("kill-executors", False)]
    assert "kill-executors" in write_index(tmp_path / "store", runs).read_text()


def test_spec_round_trips_through_a_run_dir(tmp_path: Path) -> None:
    from lab.spec import dump_spec

    spec = load_spec("lab-test")
    (tmp_path / "test.yaml").write_text(dump_spec(spec, {"lab": "x", "planned_faults": []}))
    again = spec_from_run(tmp_path)
    assert again == spec


def test_an_interrupted_run_snapshots_every_start_in_the_history(tmp_path: Path) -> None:
    """Clients go on after Ctrl-C: starts that reached the history after run.json was saved are snapshotted too."""
    from lab.run import started_ids

    with HistoryWriter(tmp_path / "history.jsonl") as writer:
        for process, ex_id in enumerate(["wf-1", "wf-2", "wf-3"]):
            writer.append(process, "invoke", "start", {"workflow": "lab_ref"}, key=ex_id, node="api-1")
    assert started_ids(tmp_path, ["wf-1", "wf-0"]) == ["wf-1", "wf-0", "wf-2", "wf-3"]
    assert started_ids(tmp_path / "missing", ["wf-1"]) == ["wf-1"]
