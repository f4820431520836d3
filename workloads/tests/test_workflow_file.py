"""The workflow workload: a user's workflow file, its errors at build time, its op values and static counts."""
from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.errors import LabError
from cluster.mistral_api import NodeClient
from history.reader import read_history
from workloads import WORKLOADS, make_workload, parse_params
from workloads.core import Op, RunContext
from workloads.reference import ALL_KINDS, reference_workflow
from workloads.runner import RunOptions, run_workload
from workloads.stub import StubMistral
from workloads.workflow_file import expected_counts, resolve_path, witness_tasks, workflows_of

SPECS = Path(__file__).resolve().parents[2] / "lab" / "specs"

SIMPLE = """\
version: '2.0'
wf_main:
  input:
    - seconds
    - label: main
  tasks:
    first:
      action: lab.witness
      input: {seconds: <% $.seconds %>, label: first, idempotent: true}
      on-success: [second]
    second:
      action: lab.witness seconds=0 label=second idempotent=false
      on-complete: [third]
    third:
      action: std.noop
wf_other:
  tasks:
    only:
      action: std.echo output=1
"""


def _file(tmp_path: Path, text: str = SIMPLE, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _workload(path: Path, **params: Any):
    return make_workload("workflow", {"file": str(path), "workflow": "wf_main", "input": {"seconds": 1}, **params})


def _direct(tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "direct", "tasks": tasks, **extra}


def _w(**extra: Any) -> dict[str, Any]:
    """A lab.witness task."""
    return {"action": "lab.witness", "input": {"seconds": 0, "label": "x", "idempotent": False}, **extra}


# ---------------------------------------------------------------- building: paths and errors
def test_registered() -> None:
    assert WORKLOADS["workflow"].name == "workflow"


def test_relative_file_resolves_against_base_dir_absolute_stays(tmp_path: Path) -> None:
    _file(tmp_path)
    built = make_workload("workflow", {"file": "wf.yaml", "workflow": "wf_main", "input": {"seconds": 1},
                                       "base_dir": str(tmp_path)})
    assert built.path == tmp_path / "wf.yaml"
    assert resolve_path(str(tmp_path / "wf.yaml"), "/elsewhere") == tmp_path / "wf.yaml"
    assert resolve_path("wf.yaml") == Path("wf.yaml")  # no base_dir: the current directory


def test_relative_file_without_base_dir_uses_the_current_directory(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _file(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert _workload(Path("wf.yaml")).start_value["workflow"] == "wf_main"


@pytest.mark.parametrize("params, message", [
    ({"workflow": "wf_main"}, "parameter file is required for workload workflow"),
    ({"file": "wf.yaml"}, r"defines several workflows \(wf_main, wf_other\): name the one to start"),
    ({"file": "missing.yaml", "workflow": "wf_main"}, r"workflow file .*missing.yaml: cannot read it"),
    ({"file": "wf.yaml", "workflow": "nope"}, r"workflow 'nope' is not in .*wf.yaml \(it defines: wf_main, wf_other\)"),
    ({"file": "wf.yaml", "workflow": "wf_main", "input": [1, 2]}, "input=.*must be a mapping"),
    ({"file": "wf.yaml", "workflow": "wf_main", "input": "just a string"}, "input=.*must be a mapping"),
    ({"file": "wf.yaml", "workflow": "wf_main", "input": "{a: [1"}, "input=.*not valid YAML/JSON"),
    ({"file": "wf.yaml", "workflow": "wf_main"}, r"input for workflow 'wf_main': missing seconds"),
    ({"file": "wf.yaml", "workflow": "wf_main", "input": {"seconds": 1, "bogus": 2}}, "unexpected bogus"),
    ({"file": "wf.yaml", "workflow": "wf_main", "max_starts": 0}, "max_starts=0 .*must be > 0"),
    ({"file": "wf.yaml", "workflow": "wf_main", "typo": 1}, "unknown parameter 'typo'"),
])
def test_bad_parameters_are_lab_errors_at_build(tmp_path: Path, params: dict, message: str) -> None:
    _file(tmp_path)
    with pytest.raises(LabError, match=message):
        make_workload("workflow", {"base_dir": str(tmp_path), **params})


@pytest.mark.parametrize("text, message", [
    ("version: '2.0'\nwf: {tasks: [unclosed\n", r"wf.yaml:\d+: invalid YAML"),
    ("- just\n- a list\n", "a workflow file is a YAML mapping"),
    ("version: '2.0'\n", "defines no workflow"),
    ("version: '3.0'\nwf_main: {tasks: {}}\n", "unsupported DSL version '3.0'"),
    ("version: '2.0'\nwf_main: not a mapping\n", "workflow 'wf_main' must be a mapping"),
    ("version: '2.0'\nname: book\nworkflows: {other: {tasks: {}}}\n",
     r"workbook 'book' \(.*wf.yaml\) has no workflow 'wf_main' \(it defines: other\)"),
])
def test_bad_files_are_lab_errors_at_build(tmp_path: Path, text: str, message: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(LabError, match=message):
        _workload(path)


def test_lab_error_is_one_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "version: '2.0'\nwf: {tasks: [unclosed\n")
    with pytest.raises(LabError) as caught:
        _workload(path)
    assert "\n" not in str(caught.value) and caught.value.exit_code == 3


def test_version_may_be_a_number_or_absent() -> None:
    assert list(workflows_of({"version": 2.0, "a": {}}, "f")) == ["a"]
    assert list(workflows_of({"a": {}}, "f")) == ["a"]


def test_input_from_the_command_line_is_yaml(tmp_path: Path) -> None:
    _file(tmp_path)
    built = make_workload("workflow", parse_params([f"file={tmp_path / 'wf.yaml'}", "workflow=wf_main",
                                                    "input={seconds: 2, label: x}"]))
    assert built.params["input"] == {"seconds": 2, "label": "x"}


# ---------------------------------------------------------------- ops
def test_start_op_records_workflow_counts_and_witness_tasks(tmp_path: Path) -> None:
    built = _workload(_file(tmp_path), max_starts=2)
    op = built.next_op(random.Random(0), 0, "api-1")
    assert op is not None and op.f == "start"
    assert str(uuid.UUID(str(op.key))) == op.key
    assert op.value == {"workflow": "wf_main", "kind": "workflow", "expected_tasks": 3, "expected_actions": 2,
                        "witness_tasks": {"first": True, "second": False}}
    json.dumps(op.value)  # the history is JSON lines
    second = built.next_op(random.Random(0), 1, "api-2")
    assert second is not None and second.key != op.key
    assert built.next_op(random.Random(0), 0, "api-1") is None  # max_starts reached
    assert built.checkers == ("completion", "succeeded-despite-faults", "exactly-once", "perf")
    assert built.starts_executions


def test_uncomputable_counts_are_left_out(tmp_path: Path) -> None:
    text = SIMPLE.replace("on-success: [second]", "on-success: [{second: <% true %>}]")
    op = _workload(_file(tmp_path, text)).next_op(random.Random(0), 0, "api-1")
    assert op is not None and "expected_tasks" not in op.value and "expected_actions" not in op.value
    assert op.value["witness_tasks"] == {"first": True, "second": False}


def test_a_workflow_without_witness_tasks_is_not_judged_by_exactly_once(tmp_path: Path) -> None:
    built = make_workload("workflow", {"file": str(_file(tmp_path)), "workflow": "wf_other"})
    assert "exactly-once" not in built.checkers and "exactly-once" not in built.describe()["checkers"]
    op = built.next_op(random.Random(0), 0, "api-1")
    assert op is not None and op.value["witness_tasks"] == {} and op.value["expected_actions"] == 0


class FakeClient:
    node = "api-1"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def create_execution(self, execution_id: str, workflow: str, workflow_input: dict | None = None,
                         params: dict | None = None, namespace: str = "") -> dict:
        self.calls.append((execution_id, workflow, workflow_input, params, namespace))
        return {"id": execution_id, "state": "RUNNING"}


def test_invoke_starts_the_workflow_with_its_input_and_id(tmp_path: Path) -> None:
    built = _workload(_file(tmp_path))
    client = FakeClient()
    op = Op("start", {"workflow": "wf_main"}, "ex-1")
    completion = built.invoke(client, op)  # type: ignore[arg-type]
    assert (completion.type, completion.value) == ("ok", "RUNNING")
    assert client.calls == [("ex-1", "wf_main", {"seconds": 1}, None, "")]


def test_setup_creates_every_workflow_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[str] = []
    monkeypatch.setattr("workloads.workflow_file.ensure_workflows", lambda client, defs, *_: created.extend(defs))
    built = _workload(_file(tmp_path), probe_s=0)
    ctx = RunContext("r", {"api-1": "http://127.0.0.1:9"}, tmp_path, lambda node: NodeClient(node, "http://x"))
    built.setup(ctx)
    documents = [yaml.safe_load(d) for d in created]
    assert [sorted(d) for d in documents] == [["version", "wf_main"], ["version", "wf_other"]]
    assert documents[0]["wf_main"] == yaml.safe_load(SIMPLE)["wf_main"]


def test_setup_refusal_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(client: Any, defs: list[str], *where: str) -> None:
        raise LabError("cannot create workflow on api-1: HTTP 400 bad")

    monkeypatch.setattr("workloads.workflow_file.ensure_workflows", refuse)
    built = _workload(_file(tmp_path))
    ctx = RunContext("r", {"api-1": "http://x"}, tmp_path, lambda node: NodeClient(node, "http://x"))
    with pytest.raises(LabError, match=r"wf.yaml: cannot create .* HTTP 400"):
        built.setup(ctx)


class FakeCluster:
    name = "stub"

    def __init__(self, url: str) -> None:
        self.url = url

    def api_urls(self) -> dict[str, str]:
        return {"api-1": self.url, "api-2": self.url}

    def topology(self):
        from cluster.topology import Topology
        return Topology(name="stub", overrides={"action_heartbeat": {"check_interval": "1"}})


def test_runs_against_a_stub_mistral(tmp_path: Path) -> None:
    built = _workload(_file(tmp_path), max_starts=3)
    with StubMistral() as stub:
        stub.start_state = "SUCCESS"  # the setup probe ends at once
        record = run_workload(FakeCluster(stub.url), built, tmp_path / "run",
                              RunOptions(time_limit=2, concurrency=2, rate=50, seed=1, collect=False, settle_s=0.0))
        started = set(stub.executions) - {record.workload["probe"]["execution_id"]}
    events = read_history(tmp_path / "run" / "history.jsonl")
    starts = [e for e in events if e.f == "start" and e.type == "invoke"]
    assert len(starts) == 3 and {str(e.key) for e in starts} == started
    assert all(e.value["kind"] == "workflow" and e.value["expected_tasks"] == 3 for e in starts)
    assert record.workload["name"] == "workflow"


# ---------------------------------------------------------------- static counts
def test_sequence_and_parallel() -> None:
    chain = _direct({"a": _w(**{"on-success": ["b"]}), "b": _w(**{"on-success": "c"}), "c": _w()})
    assert expected_counts(chain) == {"expected_tasks": 3, "expected_actions": 3}
    fan = _direct({"a": _w(), "b": _w(), "c": {"action": "std.noop"}})
    assert expected_counts(fan) == {"expected_tasks": 3, "expected_actions": 2}


def test_a_plain_task_runs_once_per_arrival_a_join_once() -> None:
    tasks = {"a": _w(**{"on-success": ["c"]}), "b": _w(**{"on-success": ["c"]}), "c": _w(**{"on-success": ["d"]}),
             "d": _w()}
    assert expected_counts(_direct(tasks)) == {"expected_tasks": 6, "expected_actions": 6}  # c and d twice
    tasks["c"]["join"] = "all"
    assert expected_counts(_direct(tasks)) == {"expected_tasks": 4, "expected_actions": 4}
    tasks["c"]["join"] = 1
    assert expected_counts(_direct(tasks)) == {"expected_tasks": 4, "expected_actions": 4}
    tasks["c"]["join"] = 3  # more than its inbound: never satisfied
    assert expected_counts(_direct(tasks)) == {}


def test_on_complete_counts_and_noop_is_no_task() -> None:
    tasks = {"a": _w(**{"on-complete": ["b", "noop"]}), "b": _w()}
    assert expected_counts(_direct(tasks)) == {"expected_tasks": 2, "expected_actions": 2}


def test_advanced_clause_with_publish_and_static_next() -> None:
    tasks = {"a": _w(**{"on-success": {"publish": {"x": 1}, "next": ["b"]}}), "b": _w()}
    assert expected_counts(_direct(tasks)) == {"expected_tasks": 2, "expected_actions": 2}
    tasks["a"]["on-success"]["next"] = [{"b": "<% $.x = 1 %>"}]
    assert expected_counts(_direct(tasks)) == {}


def test_on_error_that_fails_keeps_counts_a_handler_does_not() -> None:
    tasks = {"a": _w(**{"on-success": ["b"], "on-error": ["notify", "fail"]}), "b": _w(), "notify": _w()}
    assert expected_counts(_direct(tasks)) == {"expected_tasks": 2, "expected_actions": 2}
    tasks["a"]["on-error"] = ["notify"]  # a failure can still end in SUCCESS, with other counts
    assert expected_counts(_direct(tasks)) == {}


@pytest.mark.parametrize("body", [
    _direct({"a": _w(**{"on-success": [{"b": "<% $.go %>"}]}), "b": _w()}),          # condition
    _direct({"a": _w(**{"on-success": ["b"]}), "b": _w(**{"on-success": ["a"]}), "s": _w(**{"on-success": ["a"]})}),
    _direct({"a": _w(**{"on-success": ["succeed"]}), "b": _w()}),                     # ends the run early
    _direct({"a": _w(**{"on-success": ["missing"]})}),                                # unknown target
    _direct({"a": _w()}, **{"task-defaults": {"on-error": ["h"]}}),                   # default transitions
    {"type": "reverse", "tasks": {"a": _w()}},
    _direct({}),
    _direct({"a": _w(**{"on-success": ["j"]}), "b": _w(**{"on-error": ["j", "fail"]}), "j": _w(join="all")}),
])
def test_run_time_decisions_leave_counts_out(body: dict) -> None:
    assert expected_counts(body) == {}


def test_with_items_or_retry_on_success_leave_only_actions_out() -> None:
    assert expected_counts(_direct({"a": _w(**{"with-items": "i in <% [1, 2] %>"})})) == {"expected_tasks": 1}
    repeat = _w(retry={"count": 3, "delay": 1, "continue-on": "<% true %>"})
    assert expected_counts(_direct({"a": repeat})) == {"expected_tasks": 1}
    plain = _w(retry={"count": 3, "delay": 1})  # repeats only on failure: a SUCCESS run has one witness run
    assert expected_counts(_direct({"a": plain})) == {"expected_tasks": 1, "expected_actions": 1}


def test_witness_tasks_and_their_idempotence() -> None:
    body = _direct({"a": _w(), "b": {"action": "lab.witness label=b idempotent=true"},
                    "c": {"action": "lab.witness", "input": {"idempotent": "<% $.idem %>"}},
                    "d": {"action": "std.noop"}, "e": {"workflow": "child"}})
    assert witness_tasks(body) == {"a": False, "b": True, "c": "<% $.idem %>"}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_static_counts_agree_with_every_reference_workflow(kind: str) -> None:
    """Two independent counts of one graph: the reference generator's and the file analysis."""
    workflow = reference_workflow(kind, 3, 2, 0.1)
    counts = expected_counts(yaml.safe_load(workflow.definition)[workflow.name])
    assert counts["expected_tasks"] == workflow.expected_tasks
    if kind in ("with-items", "complex"):  # item counts are a YAQL expression: left to run time
        assert "expected_actions" not in counts
    else:
        assert counts["expected_actions"] == workflow.expected_actions


# ---------------------------------------------------------------- the built-in retry-duplicate workflow
def test_builtin_retry_workflow_file() -> None:
    path = SPECS / "workflows" / "retry.yaml"
    built = make_workload("workflow", {"file": "workflows/retry.yaml", "workflow": "lab_retry_duplicate",
                                       "base_dir": str(SPECS)})
    tasks = yaml.safe_load(path.read_text())["lab_retry_duplicate"]["tasks"]
    assert list(tasks) == ["side_effect"]
    assert tasks["side_effect"]["retry"] == {"count": 2, "delay": 1}
    assert built.start_value == {"workflow": "lab_retry_duplicate", "kind": "workflow", "expected_tasks": 1,
                                 "expected_actions": 1, "witness_tasks": {"side_effect": False}}
