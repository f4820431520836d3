"""The settle wait and the completion checker agree on which executions a run started (issue 22, case B).

Seen in a real run: a start left indeterminate (info) by a broker outage was created by Mistral later; the
settle wait dropped it while Mistral did not list it, ended early, and the completion checker then found it
RUNNING in the snapshot and said UNKNOWN.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from checker.completion import check_completion
from checker.completion import counts_as_started as checker_counts
from history.pairing import Operation, pair_operations
from history.reader import read_history
from history.writer import HistoryWriter
from workloads import make_workload
from workloads.runner import RUN_FILE, RunOptions, run_workload, wait_settled
from history.started import attempted_executions, counts_as_started, started_executions
from workloads.stub import StubMistral
from workloads.tests.test_runner import FakeCluster

OK_ID, INFO_ID, FAILED_ID = "ex-ok", "ex-info", "ex-failed"


def _history(path: Path) -> list:
    """An acknowledged start, an indeterminate one (the broker was down) and a refused one."""
    with HistoryWriter(path) as writer:
        writer.append(0, "invoke", "start", {"workflow": "lab_ref"}, key=OK_ID, node="api-1")
        writer.append(0, "ok", "start", "RUNNING", key=OK_ID, node="api-1")
        writer.append(1, "invoke", "start", {"workflow": "lab_ref"}, key=INFO_ID, node="api-2")
        writer.append(1, "info", "start", None, key=INFO_ID, node="api-2", error="ReadTimeout")
        writer.append(2, "invoke", "start", {"workflow": "lab_ref"}, key=FAILED_ID, node="api-1")
        writer.append(2, "fail", "start", None, key=FAILED_ID, node="api-1", error="400 bad input")
    return pair_operations(read_history(path))


class FakeMistral:
    """Mistral's execution list, one answer per poll; past the script it repeats the last answer."""

    def __init__(self, script: list[dict[str, str] | None]) -> None:
        self.script = script
        self.polls = 0

    def states(self) -> dict[str, str] | None:
        answer = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        return answer


def test_the_started_list_holds_acknowledged_and_indeterminate_starts(tmp_path: Path) -> None:
    ops = _history(tmp_path / "history.jsonl")
    assert started_executions(ops) == [OK_ID, INFO_ID]
    assert attempted_executions(ops) == [OK_ID, INFO_ID, FAILED_ID]


@pytest.mark.parametrize("f", ["start", "read"])
@pytest.mark.parametrize("key", [None, "ex-1"])
@pytest.mark.parametrize("status", ["ok", "info", "fail"])
def test_the_checker_and_the_settle_wait_count_the_same_starts(f: str, key: str | None, status: str) -> None:
    """The checker repeats the rule (it may not import workloads) until it moves into history.pairing."""
    op = Operation(0, 0, f, None, status, 0, None, key)
    assert checker_counts(op) == counts_as_started(f, key, status)


def test_an_open_start_counts_as_started(tmp_path: Path) -> None:
    """A start with no completion pairs as info: Mistral may have created it."""
    with HistoryWriter(tmp_path / "history.jsonl") as writer:
        writer.append(0, "invoke", "start", {"workflow": "lab_ref"}, key="ex-open", node="api-1")
    assert started_executions(pair_operations(read_history(tmp_path / "history.jsonl"))) == ["ex-open"]


def test_settle_wait_polls_an_indeterminate_start_until_mistral_reports_it_terminal(tmp_path: Path) -> None:
    ids = started_executions(_history(tmp_path / "history.jsonl"))
    mistral = FakeMistral([
        {OK_ID: "RUNNING"},                        # the indeterminate start is not created yet
        {OK_ID: "SUCCESS"},                        # the old wait ended here: "all terminal"
        None,                                      # no API node answers
        {OK_ID: "SUCCESS", INFO_ID: "RUNNING"},    # Mistral created it late
        {OK_ID: "SUCCESS", INFO_ID: "SUCCESS"},
    ])
    settled, unsettled = wait_settled({}, ids, lambda: time.time(), 60.0, threading.Event(), poll_s=0.001,
                                      read_states=mistral.states, read_running_actions=lambda: 0)
    assert settled is not None and unsettled == []
    assert mistral.polls == 5


def test_settle_wait_does_not_end_early_for_an_execution_mistral_never_lists(tmp_path: Path) -> None:
    """An indeterminate start Mistral answers 404 for stays unknown: the wait runs its whole window."""
    ids = started_executions(_history(tmp_path / "history.jsonl"))
    mistral = FakeMistral([{OK_ID: "SUCCESS"}])
    began = time.time()
    settled, unsettled = wait_settled({}, ids, lambda: began, 0.3, threading.Event(), poll_s=0.01,
                                      read_states=mistral.states, read_running_actions=lambda: 0)
    assert settled is None and unsettled == [INFO_ID]
    assert time.time() - began >= 0.3 and mistral.polls > 2


def test_an_execution_mistral_never_lists_holds_the_wait_only_for_its_grace(tmp_path: Path) -> None:
    """Past rpc_response_timeout (plus a margin) after the cluster is quiet, a start Mistral never listed never
    will be: the wait ends there, well before the settle window, and counts as settled."""
    ids = started_executions(_history(tmp_path / "history.jsonl"))
    mistral = FakeMistral([{OK_ID: "SUCCESS"}])
    began = time.time()
    settled, unsettled = wait_settled({}, ids, lambda: began, 5.0, threading.Event(), poll_s=0.01,
                                      read_states=mistral.states, unlisted_grace_s=0.1,
                                      read_running_actions=lambda: 0)
    assert settled is not None and unsettled == []
    assert 0.1 <= time.time() - began < 1.0


def test_a_listed_execution_still_running_holds_the_wait_past_the_grace(tmp_path: Path) -> None:
    ids = started_executions(_history(tmp_path / "history.jsonl"))
    mistral = FakeMistral([{OK_ID: "RUNNING"}])
    began = time.time()
    settled, unsettled = wait_settled({}, ids, lambda: began, 0.3, threading.Event(), poll_s=0.01,
                                      read_states=mistral.states, unlisted_grace_s=0.05,
                                      read_running_actions=lambda: 0)
    assert settled is None and set(unsettled) == {OK_ID, INFO_ID}


def test_an_action_still_running_holds_the_wait_until_it_ends_and_a_silent_api_never_ends_it(
        tmp_path: Path) -> None:
    """Every execution terminal is not yet "nothing left to wait for": an action execution still RUNNING (an
    abandoned action until the heartbeat checker fails it) holds the wait; no answer (None) is not zero."""
    ids = started_executions(_history(tmp_path / "history.jsonl"))
    mistral = FakeMistral([{OK_ID: "SUCCESS", INFO_ID: "SUCCESS"}])
    running = iter([2, None, 1, 0])
    settled, unsettled = wait_settled({}, ids, lambda: time.time(), 60.0, threading.Event(), poll_s=0.001,
                                      read_states=mistral.states, read_running_actions=lambda: next(running))
    assert settled is not None and unsettled == [] and mistral.polls == 4
    began = time.time()
    settled, _ = wait_settled({}, ids, lambda: began, 0.2, threading.Event(), poll_s=0.01,
                              read_states=mistral.states, read_running_actions=lambda: 1)
    assert settled is None and time.time() - began >= 0.2


def test_the_runner_waits_for_and_records_indeterminate_starts_the_checker_judges(tmp_path: Path) -> None:
    """Starts time out (info) but the stub creates them afterwards: run.json's started_executions is the
    history's started list, the settle wait polls them (never 'all terminal' while they run), and the
    completion checker counts exactly those."""
    with StubMistral() as stub:
        stub.hang_paths, stub.hang_methods, stub.hang_s = ("/v2/executions",), ("POST",), 0.4
        record = run_workload(FakeCluster({"api-1": stub.url}), make_workload("execution-state", {"max_starts": 2}),
                              tmp_path, RunOptions(time_limit=0.5, concurrency=1, rate=None, seed=5, collect=False,
                                                   client_timeout=0.1, settle_s=0.3))
        time.sleep(0.5)  # the last hung start lands in the stub
        snapshot = {"taken_at": time.time(), "executions": list(stub.executions.values()), "tasks": [],
                    "action_executions": []}
    ops = pair_operations(read_history(tmp_path / "history.jsonl"))
    saved = json.loads((tmp_path / RUN_FILE).read_text())
    infos = [str(op.key) for op in ops if op.f == "start" and op.status == "info"]
    assert infos and saved["started_executions"] == started_executions(ops) == record.started_executions
    assert record.settled_wall is None and record.unsettled and set(record.unsettled) <= set(infos)
    report = check_completion([op for op in ops if op.f == "start"], snapshot, [], ops, 0.3,
                              record.quiet_since_wall)
    assert report["started"] == len(saved["started_executions"])
