"""The runner against an in-process stub Mistral: histories follow the contract, timeouts become info."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from checker.check import check_history
from history.events import INFO, INVOKE, NEMESIS
from history.pairing import pair_operations
from history.reader import read_history
from cluster.errors import LabError
from cluster.topology import Topology
from workloads import WORKLOADS, make_workload, parse_params
from workloads.recorder import HistoryRecorder
from workloads.runner import RUN_FILE, RunOptions, WorkloadRun, run_workload
from workloads.stub import StubMistral


class FakeCluster:
    """Just what run_workload needs when it does not collect files: API URLs and the topology."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.name = "stub"
        self.urls = urls

    def api_urls(self) -> dict[str, str]:
        return self.urls

    def topology(self) -> Topology:
        return Topology(name="stub", overrides={"action_heartbeat": {"check_interval": "1"}})


@pytest.fixture
def stub():
    with StubMistral() as server:
        yield server


def _cluster(stub: StubMistral) -> FakeCluster:
    return FakeCluster({"api-1": stub.url, "api-2": stub.url})  # two "nodes" of one stub


def test_register_run_writes_a_linearizable_history(stub: StubMistral, tmp_path: Path) -> None:
    record = run_workload(_cluster(stub), make_workload("register", {"keys": 2}), tmp_path,
                          RunOptions(time_limit=0.6, concurrency=3, rate=200, seed=1, collect=False))
    events = read_history(tmp_path / "history.jsonl")
    ops = pair_operations(events)
    assert record.counts["ok"] + record.counts["fail"] == len(ops) > 20
    assert {op.node for op in ops} == {"api-1", "api-2"}
    assert {op.f for op in ops} <= {"read", "write", "cas"}
    assert check_history(events, "cas-register").valid is True
    assert (tmp_path / RUN_FILE).exists()


def test_timeouts_are_info_and_retire_the_process(stub: StubMistral, tmp_path: Path) -> None:
    stub.hang_paths, stub.hang_s = ("/v2/environments",), 0.5
    record = run_workload(_cluster(stub), make_workload("register"), tmp_path,
                          RunOptions(time_limit=0.8, concurrency=2, rate=None, seed=2, collect=False,
                                     client_timeout=0.2))
    events = read_history(tmp_path / "history.jsonl")
    infos = [e for e in events if e.type == INFO]
    assert infos and record.counts["info"] == len(infos)
    assert all("Timeout" in e.error for e in infos)
    # After an info the worker continues under a fresh process id (slot + k * concurrency).
    invoking = sorted({e.process for e in events if e.type == INVOKE and e.process < 1_000_000})
    assert len(invoking) > 2 and all(p % 2 in (0, 1) for p in invoking)
    pair_operations(events)  # the contract holds: no process invokes after its info


def test_execution_state_against_stub_is_valid(stub: StubMistral, tmp_path: Path) -> None:
    workload = make_workload("execution-state", {"max_starts": 4})
    run_workload(_cluster(stub), workload, tmp_path,
                 RunOptions(time_limit=0.5, concurrency=2, rate=100, seed=3, collect=False, settle_s=0.0))
    events = read_history(tmp_path / "history.jsonl")
    assert {e.f for e in events} >= {"start", "read"}
    assert check_history(events, "execution-state").valid is True


def test_stop_event_and_shared_recorder_with_nemesis(stub: StubMistral, tmp_path: Path) -> None:
    stop = threading.Event()
    recorder = HistoryRecorder(tmp_path / "history.jsonl")
    recorder.record(NEMESIS, "info", "kill", "executor-1")
    threading.Timer(0.3, stop.set).start()
    record = run_workload(_cluster(stub), make_workload("register"), tmp_path,
                          RunOptions(time_limit=30, concurrency=2, rate=50, seed=4, collect=False),
                          stop_event=stop, recorder=recorder)
    recorder.record(NEMESIS, "info", "start", "executor-1")
    recorder.close()
    events = read_history(tmp_path / "history.jsonl")
    assert events[0].process == NEMESIS and events[-1].process == NEMESIS
    assert record.main_end_wall - record.start_wall < 5


def test_registry_and_parameters() -> None:
    assert set(WORKLOADS) >= {"register", "execution-state", "reference"}
    with pytest.raises(LabError, match=r"unknown workload 'nope' \(known: cron, execution-state, reference, register, workflow\)"):
        make_workload("nope")
    with pytest.raises(LabError, match="unknown parameter 'bogus' for workload register"):
        make_workload("register", {"bogus": "1"})
    with pytest.raises(LabError, match="parameter keys='x': expected int"):
        make_workload("register", {"keys": "x"})
    with pytest.raises(LabError, match="keys=0 for workload register: must be > 0"):
        make_workload("register", {"keys": "0"})
    with pytest.raises(LabError, match="unknown kind 'spiral'"):
        make_workload("reference", {"kinds": "sequence,spiral"})
    with pytest.raises(LabError, match="malformed --param 'novalue'"):
        parse_params(["novalue"])
    assert make_workload("reference", parse_params(["kinds=join,with-items", "n=4"])).params["kinds"] == \
        ("join", "with-items")


def test_the_setup_phase_records_nothing_and_the_main_phase_records_the_ops(stub: StubMistral,
                                                                            tmp_path: Path) -> None:
    """The run pipeline starts the nemesis between setup() and main(): no fault may hit the workload's setup,
    so setup() must not put an op into the history, and main() must."""
    run = WorkloadRun(_cluster(stub), make_workload("register", {"keys": 2}), tmp_path,
                      RunOptions(time_limit=0.3, concurrency=1, rate=50, seed=1, collect=False))
    try:
        run.setup()
        run.recorder.flush()
        after_setup = len(read_history(tmp_path / "history.jsonl"))
        run.main()
    finally:
        record = run.close()
    assert after_setup == 0
    assert len(read_history(tmp_path / "history.jsonl")) > 0 and sum(record.counts.values()) > 0
