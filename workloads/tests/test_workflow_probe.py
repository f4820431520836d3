"""The setup probe against the stub Mistral: a refusal or a wrong end stops the run with Mistral's own message
before any fault; a slow workflow is no verdict."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from cluster.errors import LabError
from cluster.mistral_api import HttpError, NodeClient
from workloads import make_workload
from workloads.core import RunContext
from workloads.stub import StubMistral
from workloads.workflow_probe import StartRequest, probe

REVERSE = """\
version: '2.0'
build:
  type: reverse
  tasks:
    fetch: {action: std.noop}
    package: {action: std.noop, requires: [fetch]}
"""


class FakeClock:
    """Time moves only when the probe sleeps: a bounded wait takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def stub():
    with StubMistral() as server:
        yield server


def _probe(stub: StubMistral, expect: str = "SUCCESS", timeout_s: float = 5.0, **start) -> dict:
    clock = FakeClock()
    client = NodeClient("api-1", stub.url, 5.0)
    try:
        return probe(client, StartRequest("wf", **start), expect, timeout_s, clock, clock.sleep)
    finally:
        client.close()


def test_a_success_passes_and_sends_input_params_and_namespace(stub: StubMistral) -> None:
    stub.start_state = "SUCCESS"
    outcome = _probe(stub, input={"a": 1}, params={"task_name": "t"}, namespace="ns")
    assert outcome["state"] == "SUCCESS" and outcome["execution_id"] in stub.executions
    (sent,) = stub.started
    assert json.loads(sent["input"]) == {"a": 1} and json.loads(sent["params"]) == {"task_name": "t"}
    assert sent["workflow_namespace"] == "ns" and sent["workflow_name"] == "wf"


def test_a_refusal_is_mistral_s_message(stub: StubMistral) -> None:
    stub.refuse_starts = (400, "Invalid task name [wf_spec=ReverseWorkflowSpec, task_name=None]")
    with pytest.raises(LabError, match=r"Mistral refused to start workflow 'wf' \(setup probe on api-1, before any "
                                       r"fault\): HTTP 400: Invalid task name \[wf_spec=ReverseWorkflowSpec"):
        _probe(stub)
    assert len(stub.started) == 1  # a refusal is final: no retry


def test_an_error_on_the_healthy_cluster_stops_with_its_state_info(stub: StubMistral) -> None:
    stub.start_state, stub.state_info = "ERROR", "Failure caused by error in tasks: a\n\n  a -> boom"
    with pytest.raises(LabError, match=r"cannot succeed even without faults: .* ended ERROR .*: Failure caused by "
                                       r"error in tasks: a a -> boom \(declare expect: error"):
        _probe(stub)


def test_built_to_fail_passes_on_error_and_stops_on_success(stub: StubMistral) -> None:
    stub.start_state = "ERROR"
    assert _probe(stub, expect="ERROR")["state"] == "ERROR"
    stub.start_state = "SUCCESS"
    with pytest.raises(LabError, match=r"declared expect: error, but the setup probe .* ended SUCCESS"):
        _probe(stub, expect="ERROR")


def test_paused_stops_running_past_the_limit_goes_on(stub: StubMistral) -> None:
    stub.start_state = "PAUSED"
    with pytest.raises(LabError, match="is PAUSED .*the lab never resumes"):
        _probe(stub)
    stub.start_state = "RUNNING"
    outcome = _probe(stub, timeout_s=3.0)
    assert outcome["state"] == "RUNNING" and outcome["seconds"] >= 3.0


class FlakyClient:
    """A create that fails `failures` times (5xx or a lost answer) before it goes through."""

    node = "api-1"

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.creates = 0

    def create_execution(self, execution_id: str, *args, **kwargs) -> dict:
        self.creates += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"id": execution_id, "state": "SUCCESS"}


def test_a_lost_answer_or_5xx_is_retried_with_the_same_id_until_the_deadline() -> None:
    clock = FakeClock()
    client = FlakyClient([HttpError(503, "busy"), requests.ConnectionError("reset")])
    outcome = probe(client, StartRequest("wf"), "SUCCESS", 10.0, clock, clock.sleep)  # type: ignore[arg-type]
    assert outcome["state"] == "SUCCESS" and client.creates == 3
    never = FlakyClient([HttpError(500, "engine down")] * 100)
    with pytest.raises(LabError, match=r"could not start workflow 'wf' .*HTTP 500: engine down"):
        probe(never, StartRequest("wf"), "SUCCESS", 3.0, clock, clock.sleep)  # type: ignore[arg-type]


# ---------------------------------------------------------------- through the workload's setup
def _ctx(stub: StubMistral, tmp_path: Path) -> RunContext:
    return RunContext("r", {"api-1": stub.url}, tmp_path, lambda node: NodeClient(node, stub.url))


def test_setup_creates_then_probes_and_names_the_file(stub: StubMistral, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(REVERSE)
    built = make_workload("workflow", {"file": str(path), "params": {"task_name": "package", "namespace": "ns"},
                                       "probe_s": 2})
    stub.start_state = "SUCCESS"
    built.setup(_ctx(stub, tmp_path))
    assert [p for p, _ in stub.definitions] == ["/v2/workflows?namespace=ns"]
    assert built.describe()["probe"]["state"] == "SUCCESS"
    assert json.loads(stub.started[0]["params"]) == {"task_name": "package"}
    stub.refuse_starts = (400, "Invalid input [name=build, class=WorkflowSpec, missing=['x']]")
    with pytest.raises(LabError, match=r"wf.yaml: Mistral refused to start workflow 'build' .* missing=\['x'\]\]"):
        built.setup(_ctx(stub, tmp_path))


def test_no_probe_when_probe_s_is_zero(stub: StubMistral, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(REVERSE)
    built = make_workload("workflow", {"file": str(path), "params": {"task_name": "package"}, "probe_s": 0})
    stub.refuse_starts = (400, "never asked")
    built.setup(_ctx(stub, tmp_path))
    assert stub.started == [] and "probe" not in built.describe()
