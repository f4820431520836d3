"""The load's early stop on the same 4xx from every API node, and a 4xx always a fail op, never info."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from mistralclient.api.base import APIException

from cluster.mistral_api import HttpError
from cluster.topology import Topology
from history.reader import read_history
from workloads import make_workload
from workloads.core import Completion, Op
from workloads.recorder import HistoryRecorder
from workloads.refusals import RefusalWatch, refusal_of
from workloads.runner import RunOptions, run_workload
from workloads.session import OpSession
from workloads.stub import StubMistral

REFUSED = "HTTP 400: Invalid input [name=wf, class=WorkflowSpec, missing=['x']]"


def _refused(execution_id: str = "") -> Completion:
    return Completion.fail(f"{REFUSED} for 0b1c2d3e-0000-4000-8000-{execution_id or '000000000000'}")


def test_refusal_of_masks_ids_and_ignores_all_but_4xx_fails() -> None:
    assert refusal_of(_refused("111111111111")) == refusal_of(_refused("222222222222"))
    assert refusal_of(Completion.fail("HTTP 500: boom")) is None
    assert refusal_of(Completion.info(REFUSED)) is None
    assert refusal_of(Completion.ok("RUNNING")) is None


def test_the_same_refusal_on_every_node_in_a_row_gives_the_reason() -> None:
    watch = RefusalWatch(("start",), in_a_row=3)
    watch.arm(["api-2", "api-1", "api-1"])
    for _ in range(3):
        watch.see("start", "api-1", _refused())
    assert watch.reason is None  # api-2 has not refused yet
    for n in range(3):
        watch.see("start", "api-2", _refused(f"{n:012d}"))
    assert watch.reason == ("Mistral refused every start: api-1, api-2 each answered the same client error 3 "
                            f"times in a row: {REFUSED} for 0b1c2d3e-0000-4000-8000-000000000002")


@pytest.mark.parametrize("interruption", [Completion.ok("RUNNING"), Completion.info("ReadTimeout"),
                                          Completion.fail("HTTP 409: another thing")])
def test_anything_else_on_a_node_resets_its_count(interruption: Completion) -> None:
    watch = RefusalWatch(("start",), in_a_row=2)
    watch.arm(["api-1", "api-2"])
    for node in ("api-1", "api-2", "api-1"):
        watch.see("start", node, _refused())
    watch.see("start", "api-2", interruption)
    watch.see("start", "api-1", _refused())
    assert watch.reason is None
    watch.see("start", "api-2", _refused())
    watch.see("start", "api-2", _refused())
    assert watch.reason is not None


def test_unwatched_ops_and_nodes_and_an_unarmed_watch_never_stop() -> None:
    watch = RefusalWatch(("start",), in_a_row=1)
    watch.see("start", "api-1", _refused())
    assert watch.reason is None  # not armed: finish ops and final reads are never watched
    watch.arm(["api-1"])
    watch.see("read", "api-1", _refused())
    watch.see("start", "api-9", _refused())
    assert watch.reason is None
    assert RefusalWatch(()).ops == frozenset()


class RaisingWorkload:
    """A workload whose invoke lets Mistral's error answer through."""

    aborts_on_refusal = ()

    def __init__(self, exc: Exception) -> None:
        self.exc, self.lock = exc, threading.Lock()

    def invoke(self, client, op):
        raise self.exc

    def observe(self, op, completion) -> None:
        pass


class Client:
    node = "api-1"


@pytest.mark.parametrize("exc, kind, error", [
    (HttpError(404, "Environment not found"), "fail", "HTTP 404: Environment not found"),
    (APIException(409, "Duplicate entry"), "fail", "HTTP 409: Duplicate entry"),
    (HttpError(408, "request timeout"), "info", "HttpError: HTTP 408: request timeout"),
    (HttpError(503, "unavailable"), "info", "HttpError: HTTP 503: unavailable"),
    (APIException(500, "boom"), "info", "APIException: boom"),
])
def test_a_4xx_a_workload_lets_through_is_a_fail_op(tmp_path: Path, exc: Exception, kind: str, error: str) -> None:
    with HistoryRecorder(tmp_path / "h.jsonl") as recorder:
        session = OpSession(RaisingWorkload(exc), recorder, None)  # type: ignore[arg-type]
        completion = session.perform(Client(), 0, Op("write", 1, "k"))  # type: ignore[arg-type]
    assert (completion.type, completion.error) == (kind, error)


class FakeCluster:
    name = "stub"

    def __init__(self, url: str) -> None:
        self.url = url

    def api_urls(self) -> dict[str, str]:
        return {"api-1": self.url, "api-2": self.url}

    def topology(self) -> Topology:
        return Topology(name="stub", overrides={"action_heartbeat": {"check_interval": "1"}})


@pytest.mark.parametrize("name", ["reference", "workflow"])
def test_a_load_mistral_refuses_everywhere_stops_in_seconds_with_fail_ops(tmp_path: Path, name: str) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("version: '2.0'\nwf:\n  tasks: {a: {action: std.noop}}\n")
    params = {"file": str(wf), "probe_s": 0} if name == "workflow" else {"kinds": "sequence"}
    with StubMistral() as stub:
        stub.refuse_starts = (400, "Invalid input [name=wf, class=WorkflowSpec, missing=['x']]")
        began = time.monotonic()
        record = run_workload(FakeCluster(stub.url), make_workload(name, params), tmp_path / "run",
                              RunOptions(time_limit=30, concurrency=4, rate=50, seed=1, collect=False, settle_s=0))
    assert time.monotonic() - began < 10
    assert record.load_aborted is not None and "missing=['x']" in record.load_aborted
    completions = [e for e in read_history(tmp_path / "run" / "history.jsonl") if e.type != "invoke"]
    assert completions and all(e.type == "fail" for e in completions)
    assert sum(record.counts.values()) < 20  # a few in a row on each node, not 30 s of starts


def test_a_load_mistral_accepts_runs_its_time(tmp_path: Path) -> None:
    with StubMistral() as stub:
        record = run_workload(FakeCluster(stub.url), make_workload("reference", {"kinds": "sequence"}),
                              tmp_path / "run", RunOptions(time_limit=0.6, concurrency=2, rate=50, seed=1,
                                                           collect=False, settle_s=0))
    assert record.load_aborted is None and record.counts["ok"] > 5
