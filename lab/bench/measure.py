"""Measuring executions: one verified execution and one repeat of `count` executions from closed-loop client
threads, each pinned to one API node.

The client is cluster.mistral_api.NodeClient (plain HTTP, one node): lighter than mistralclient on a 2-core
machine and exact about timing. exec_time is client-observed, from sending POST /v2/executions to the first
poll that sees a terminal state.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Protocol

import requests

from cluster.mistral_api import HttpError, NodeClient
from history.mistral import SUCCESS, TERMINAL_STATES
from lab.bench.model import BenchParams, RepeatResult, Sample, seconds_between
from workloads.reference import ReferenceWorkflow

CLIENT_TIMEOUT_S = 30.0   # per HTTP request; a paused API node must not hang a client thread
FAILURES = (requests.RequestException, HttpError, KeyError, ValueError)


class Api(Protocol):
    """What a measurement needs from a client: NodeClient, or a fake in tests."""

    node: str

    def create_execution(self, execution_id: str, workflow: str, workflow_input: dict | None = None) -> dict: ...

    def execution(self, execution_id: str) -> dict: ...

    def tasks(self, execution_id: str) -> list[dict]: ...

    def cancel(self, execution_id: str) -> None: ...


# ------------------------------------------------------------------ one execution
def run_execution(api: Api, workflow: ReferenceWorkflow, seconds: float, timeout: float, poll: float) -> Sample:
    """Start one execution, wait for it, verify it: SUCCESS with exactly the expected SUCCESS tasks."""
    sample = Sample(api=api.node, started=time.monotonic(), finished=0.0, execution_id=str(uuid.uuid4()))
    try:
        execution = api.create_execution(sample.execution_id, workflow.name, {"seconds": seconds})
        sample.execution_id = execution["id"]
        execution = _wait(api, execution, sample.started + timeout, poll)
        sample.finished = time.monotonic()
        sample.state = execution.get("state", "UNKNOWN")
        sample.mistral_s = seconds_between(execution.get("created_at"), execution.get("updated_at"))
        sample.error = _verify(api, sample, execution, workflow, timeout)
    except FAILURES as exc:
        sample.finished = time.monotonic()
        sample.error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    return sample


def _wait(api: Api, execution: dict, deadline: float, poll: float) -> dict:
    while execution.get("state") not in TERMINAL_STATES and time.monotonic() < deadline:
        time.sleep(poll)
        execution = api.execution(execution["id"])
    return execution


def _verify(api: Api, sample: Sample, execution: dict, workflow: ReferenceWorkflow, timeout: float) -> str | None:
    if sample.state not in TERMINAL_STATES:
        try:  # do not let a stuck execution load the next measurement
            api.cancel(execution["id"])
        except (requests.RequestException, HttpError):
            pass
        return f"stuck: {sample.state} after {timeout:g} s"
    if sample.state != SUCCESS:
        return f"{sample.state}: {' '.join(str(execution.get('state_info') or '').split())[:200]}"
    tasks = api.tasks(execution["id"])
    done = [t for t in tasks if t.get("state") == SUCCESS]
    if len(tasks) != workflow.expected_tasks or len(done) != len(tasks):
        return f"SUCCESS with {len(done)}/{len(tasks)} tasks succeeded, expected {workflow.expected_tasks}"
    sample.task_s = [d for d in (seconds_between(t.get("created_at"), t.get("finished_at") or t.get("updated_at"))
                                 for t in tasks) if d is not None]
    return None


def run_one(node: str, url: str, workflow: ReferenceWorkflow, params: BenchParams) -> Sample:
    """One execution on its own short-lived client (warm-up runs)."""
    api = NodeClient(node, url, timeout=CLIENT_TIMEOUT_S)
    try:
        return run_execution(api, workflow, params.seconds, params.timeout_s, params.poll_s)
    finally:
        api.close()


# ------------------------------------------------------------------ one repeat
def run_repeat(apis: list[tuple[str, str]], workflow: ReferenceWorkflow, params: BenchParams,
               count: int) -> RepeatResult:
    """`count` executions from `concurrency` closed-loop threads; thread i talks only to API node i mod #apis."""
    claimed = iter(range(count))
    lock = threading.Lock()
    samples: list[Sample] = []

    def worker(index: int) -> None:
        node, url = apis[index % len(apis)]
        api = NodeClient(node, url, timeout=CLIENT_TIMEOUT_S)
        try:
            while True:
                with lock:
                    if next(claimed, None) is None:
                        return
                sample = run_execution(api, workflow, params.seconds, params.timeout_s, params.poll_s)
                with lock:
                    samples.append(sample)
        finally:
            api.close()

    threads = [threading.Thread(target=worker, args=(i,), name=f"bench-client-{i}", daemon=True)
               for i in range(min(params.concurrency, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return RepeatResult(sorted(samples, key=lambda s: s.started), workflow.expected_tasks)
