"""Integration: reference workflows, fault-free workloads and an executor killed mid-action, on the shared
2 api / 2 engine / 2 executor cluster (short heartbeat window). Every test leaves the cluster 2/2/2 healthy."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from checker.run_checks import check_run
from history.run_dir import RunFiles, declare_no_faults
from history.events import NEMESIS
from cluster import mistral_api
from workloads import make_workload
from cluster.mistral_api import NodeClient
from workloads.recorder import HistoryRecorder
from workloads.reference import REFERENCE_KINDS, reference_workflow
from workloads.reference_load import ensure_workflows
from workloads.runner import RunOptions, run_workload

pytestmark = pytest.mark.docker


def _witness_records(cluster) -> list[dict]:
    text = requests.get(f"{cluster.witness_url()}/records", timeout=10).text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_reference_kind_runs_to_success(shared_cluster) -> None:
    urls = shared_cluster.api_urls()
    nodes = sorted(urls)
    workflows = [reference_workflow(kind, 2, 2, 0.0) for kind in REFERENCE_KINDS]
    ensure_workflows(NodeClient(nodes[0], urls[nodes[0]]), [w.definition for w in workflows])
    started = {}
    for i, workflow in enumerate(workflows):  # alternate API nodes: each must serve starts
        node = nodes[i % len(nodes)]
        ex_id = str(uuid.uuid4())
        assert NodeClient(node, urls[node]).create_execution(ex_id, workflow.name)["id"] == ex_id
        started[ex_id] = workflow
    api = mistral_api.client(urls[nodes[0]])
    for ex_id, workflow in started.items():
        assert mistral_api.wait_terminal(api, ex_id, timeout=120) == "SUCCESS", workflow.kind
        tasks = requests.get(f"{urls[nodes[0]]}/v2/tasks", params={"workflow_execution_id": ex_id},
                             timeout=10).json()["tasks"]
        assert len(tasks) == workflow.expected_tasks, workflow.kind
    ends = Counter(r["workflow_execution_id"] for r in _witness_records(shared_cluster) if r["phase"] == "end")
    assert {ex_id: ends[ex_id] for ex_id in started} == {ex_id: w.expected_actions for ex_id, w in started.items()}


@pytest.mark.parametrize("name, params, time_limit, rate", [
    ("register", {}, 5.0, 20.0),
    ("execution-state", {"max_starts": 6, "seconds": 0.5}, 8.0, 8.0),
    ("reference", {"n": 2, "seconds": 0.1}, 5.0, 2.0),
])
def test_fault_free_workload_is_valid_on_every_checker(shared_cluster, tmp_path: Path, name: str, params: dict,
                                                       time_limit: float, rate: float) -> None:
    declare_no_faults(tmp_path, f"workload-{name}")  # a plain workload run plans no fault (the faults gate)
    record = run_workload(shared_cluster, make_workload(name, params), tmp_path,
                          RunOptions(time_limit=time_limit, concurrency=4, rate=rate, seed=7))
    assert record.counts["info"] == 0 and not record.unsettled
    result = check_run(tmp_path)
    assert result["valid"] is True, json.dumps(result, indent=1, default=str)[:4000]
    assert set(result["checkers"]) == set(make_workload(name, params).checkers)
    nodes = {op.node for op in RunFiles.open(tmp_path).ops}
    assert nodes == set(shared_cluster.api_urls())  # every API node served clients


def _kill_first_witnessed_executor(cluster, recorder: HistoryRecorder, wanted: set[str], done: threading.Event,
                                   killed: list[str]) -> None:
    """The nemesis of this test: kill the executor running one of `wanted`'s actions, restart it later."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not killed:
        for record in _witness_records(cluster):
            if record["phase"] == "start" and record["workflow_execution_id"] in wanted:
                node = record["executor"]
                recorder.record(NEMESIS, "invoke", "kill", node)
                cluster.kill(node)
                recorder.record(NEMESIS, "info", "kill", node)
                killed.append(node)
                break
        time.sleep(0.3)
    if killed:
        time.sleep(3)
        recorder.record(NEMESIS, "invoke", "start", killed[0])
        cluster.start(killed[0])
        cluster.wait_ready(nodes=[killed[0]], timeout=120)
        recorder.record(NEMESIS, "info", "start", killed[0])
    done.set()


def test_executor_killed_mid_action_is_reported_as_mistral_handled_it(shared_cluster, tmp_path: Path) -> None:
    workload = make_workload("reference", {"kinds": "sequence", "n": 1, "seconds": 12, "max_starts": 2})
    recorder = HistoryRecorder(tmp_path / "history.jsonl")
    killed: list[str] = []
    done = threading.Event()
    ids: set[str] = set()

    def remember(event) -> None:  # the nemesis needs the ids of started executions
        if event.f == "start" and event.key:
            ids.add(str(event.key))

    recorder._on_event = remember
    nemesis = threading.Thread(target=_kill_first_witnessed_executor,
                               args=(shared_cluster, recorder, ids, done, killed), daemon=True)
    nemesis.start()
    try:
        run_workload(shared_cluster, workload, tmp_path, RunOptions(time_limit=1.0, concurrency=2, rate=None, seed=1),
                     recorder=recorder)
    finally:
        done.wait(180)
        recorder.close()
        for node in ("executor-1", "executor-2"):  # whatever happened, leave the cluster 2/2/2 and healthy
            if shared_cluster.node(node).state != "running":
                shared_cluster.start(node)
        shared_cluster.wait_ready(timeout=180)
    assert killed, "no witness start record appeared: the nemesis never fired"

    result = check_run(tmp_path)
    snapshot = json.loads((tmp_path / "mistral-snapshot.json").read_text())
    states = Counter(e["state"] for e in snapshot["executions"] if e["id"] in ids)
    completion = result["checkers"]["completion"]
    assert {s: n for s, n in completion["terminal"].items() if n} == {s: n for s, n in states.items()
                                                                      if s in ("SUCCESS", "ERROR", "CANCELLED")}
    assert completion["stuck_count"] == sum(n for s, n in states.items() if s not in ("SUCCESS", "ERROR", "CANCELLED"))
    succeeded = result["checkers"]["succeeded-despite-faults"]
    assert succeeded["errored"] == states.get("ERROR", 0)
    assert sum(c["count"] for c in succeeded["causes"].values()) == states.get("ERROR", 0)

    exactly_once = result["checkers"]["exactly-once"]
    runs = [r for r in RunFiles.open(tmp_path).witness if r.workflow_execution_id in ids]
    interrupted = [r for r in runs if not r.completed]
    assert exactly_once["interrupted_count"] == len(interrupted) >= 1
    assert killed[0] in {r.executor for r in interrupted}
    per_action = Counter(r.action_execution_id for r in runs)
    assert exactly_once["duplicate_count"]["redelivered"] == sum(1 for n in per_action.values() if n > 1)
    actions = {a["id"]: a for a in snapshot["action_executions"]}
    assert exactly_once["phantom_count"] == sum(1 for r in runs if r.action_execution_id not in actions)
    completed = {r.action_execution_id for r in runs if r.completed}
    tasks = {t["id"]: t for t in snapshot["tasks"]}
    unwitnessed = [a for a in actions.values() if a["state"] == "SUCCESS" and a["id"] not in completed
                   and tasks.get(a["task_execution_id"], {}).get("state") == "SUCCESS"]
    assert exactly_once["missing_count"] == len(unwitnessed)
    # The verdicts, not only the counts: an executor killed mid-action (no retry policy) never makes an
    # action run twice, and within the settle window every execution ends; an ERROR it causes is Mistral's
    # heartbeat check failing the lost action.
    assert exactly_once["valid"] is True, exactly_once
    assert completion["valid"] is True, completion.get("reason")
    assert all("Heartbeat" in cause for cause in succeeded["causes"]), succeeded["causes"]
