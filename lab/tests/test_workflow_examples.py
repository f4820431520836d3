"""Issue 29 without Docker: the example specs of lab/specs/workflows (one per form of the v2 DSL) load and plan a
fault; a workflow mistake in a spec is one line at spec load (exit 3, no cluster); a load phase Mistral cut
short by refusing every start is judged UNKNOWN with the reason, and stops the nemesis. Running each example on
a cluster is the integration tests' job."""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cluster.errors import LabError
from lab.judge import judge_run_dir
from lab.run import build_parts, planned_schedule
from lab.spec import SPECS_DIR, load_spec
from lab.tests.test_judge_run_dir import INTERRUPTED, _run_dir

EXAMPLES = SPECS_DIR / "workflows"
NOT_INTERRUPTED = {**INTERRUPTED, "interrupted": False, "interrupted_phase": None}


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.spec.yaml"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_every_example_loads_builds_and_plans_a_fault_in_a_short_run(path: Path) -> None:
    spec = load_spec(str(path))
    workload, schedule = build_parts(spec, "example")
    assert workload.name == "workflow" and (EXAMPLES / Path(spec.workload["params"]["file"])).is_file()
    assert planned_schedule(schedule, spec.time_limit_s), "an example runs its workflow under a fault"
    assert spec.time_limit_s <= 30 and spec.name.startswith("example-")


def _built(name: str):
    return build_parts(load_spec(str(EXAMPLES / f"{name}.spec.yaml")), "example")[0]


def test_there_is_one_example_per_form() -> None:
    built = {p.name.removesuffix(".spec.yaml"): _built(p.name.removesuffix(".spec.yaml")) for p in _examples()}
    forms = {
        "workbook": [n for n, w in built.items() if w.source.workbook],
        "reverse": [n for n, w in built.items() if w.workflows[_short(w)].get("type") == "reverse"],
        "several workflows": [n for n, w in built.items() if len(w.workflows) > 2 and not w.source.workbook],
        "env and namespace": [n for n, w in built.items() if w.request.namespace and "env" in w.request.params],
        "input defaults": [n for n, w in built.items() if any(isinstance(e, dict) for e in
                                                               w.workflows[_short(w)].get("input", []))],
        "built to fail": [n for n, w in built.items() if w.start_value.get("expect") == "ERROR"],
    }
    assert forms == {"workbook": ["workbook"], "reverse": ["reverse"], "several workflows": ["several"],
                     "env and namespace": ["several"], "input defaults": ["direct", "reverse", "several", "workbook"],
                     "built to fail": ["expect-error"]}


def _short(workload: Any) -> str:
    return workload.request.workflow.rsplit(".", 1)[-1]


@pytest.mark.parametrize("name, tasks, actions", [
    ("direct", 4, 4), ("reverse", 4, 4), ("workbook", 3, 2), ("several", 2, 1),
])
def test_each_example_records_the_work_its_description_names(name: str, tasks: int, actions: int) -> None:
    value = _built(name).start_value
    assert (value["expected_tasks"], value["expected_actions"]) == (tasks, actions)
    assert f"{tasks} task executions" in load_spec(str(EXAMPLES / f"{name}.spec.yaml")).description


# ---------------------------------------------------------------- spec-load errors
def _spec(tmp_path: Path, params: dict[str, Any]) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({"name": "mine", "workload": {"name": "workflow", "params": params},
                                "time_limit_s": 30}))
    return path


@pytest.mark.parametrize("params, message", [
    ({"file": str(EXAMPLES / "reverse.yaml")},
     "reverse workflow lab_example_reverse: name the target task with params.task_name"),
    ({"file": str(EXAMPLES / "several.yaml"), "workflow": "lab_example_nope"},
     "workflow 'lab_example_nope' is not in "),
    ({"file": str(EXAMPLES / "workbook.yaml"), "workflow": "lab_example_book.nope"},
     "workbook 'lab_example_book' "),
    ({"file": str(EXAMPLES / "several.yaml"), "workflow": "lab_example_greet"},
     "input for workflow 'lab_example_greet': missing name"),
])
def test_a_workflow_mistake_is_one_line_at_spec_load(tmp_path: Path, params: dict, message: str) -> None:
    path = _spec(tmp_path, params)
    with pytest.raises(LabError) as caught:
        load_spec(str(path))
    assert str(caught.value).startswith(f"{path}:1: {message}") and "\n" not in str(caught.value)
    assert caught.value.exit_code == 3


def test_the_cli_exits_3_before_any_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    from lab import cli

    def no_cluster(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("run_test reached: a cluster would be built")

    monkeypatch.setattr("lab.run.run_test", no_cluster)
    monkeypatch.setattr(sys, "argv", ["mistral-lab", "run", str(_spec(tmp_path, {"file": str(EXAMPLES /
                                                                                             "reverse.yaml")}))])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    assert "reverse workflow lab_example_reverse: name the target task with params.task_name" in \
        " ".join(capsys.readouterr().err.split())


# ---------------------------------------------------------------- a load Mistral refused
def test_a_load_abort_makes_a_run_unknown_with_the_reason_first(tmp_path: Path) -> None:
    reason = "Mistral refused every start: api-1, api-2 each answered the same client error 3 times in a row: x"
    control = _run_dir(tmp_path / "control", NOT_INTERRUPTED, None)
    assert judge_run_dir(control)["valid"] is True  # only the abort stands between these ops and VALID
    results = judge_run_dir(_run_dir(tmp_path / "aborted", {**NOT_INTERRUPTED, "load_aborted": reason}, None))
    assert results["valid"] == "unknown" and results["load_aborted"] == reason
    assert results["reasons"][0] == f"UNKNOWN: the load phase stopped early: {reason}"


class FakeNemesis:
    """What _run_load asks of a NemesisRunner: start, stop, join, ident."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop_event, self.ident, self.stopped = stop, None, False

    def start(self) -> None:
        self.ident = 1

    def stop(self) -> None:
        self.stopped = True
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        assert self.stop_event.wait(5), "the nemesis would run out its whole schedule"


def test_the_pipeline_stops_the_nemesis_when_mistral_refuses_every_start(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.run import LiveState, _run_load
    from workloads.recorder import HistoryRecorder
    from workloads.stub import StubMistral
    from workloads.tests.test_refusals import FakeCluster

    def collect(cluster: Any, out: Path, ids: list[str]) -> dict[str, Path]:
        (out / "mistral-snapshot.json").write_text(json.dumps({"taken_at": time.time()}))
        return {"snapshot": out / "mistral-snapshot.json"}

    monkeypatch.setattr("workloads.runner.collect_run_files", collect)
    spec = load_spec(str(EXAMPLES / "direct.spec.yaml"))
    spec.workload["params"]["probe_s"] = 0
    spec.workload["rate"] = 20  # three refusals per node in a fraction of a second
    workload = build_parts(spec, "example")[0]
    stop = threading.Event()
    nemesis = FakeNemesis(stop)
    with StubMistral() as stub:
        stub.refuse_starts = (400, "Invalid input [name=lab_example_direct, class=WorkflowSpec, unexpected=['x']]")
        recorder = HistoryRecorder(tmp_path / "history.jsonl")
        began = time.monotonic()
        _run_load(FakeCluster(stub.url), workload, tmp_path, spec, stop, recorder, nemesis, LiveState())
    assert nemesis.stopped and time.monotonic() - began < 15  # not the 30 s time limit
    run = json.loads((tmp_path / "run.json").read_text())
    assert "unexpected=['x']" in run["load_aborted"]
