"""The rpc fault against the shared 2/2/2 cluster: each test injects one rule inside the Mistral processes,
runs a few witnessed workflows, heals, and checks what the hook recorded and what Mistral 23 did with the
message. Every test ends with the whole-cluster heal and no lab rule left anywhere."""
from __future__ import annotations

import json
import random
import time
from typing import Callable

import pytest

from cluster import mistral_api
from cluster.control import Cluster
from nemesis import make_fault, rpc
from nemesis.heal import heal_cluster, leftovers
from workloads.reference import reference_workflow

pytestmark = pytest.mark.docker



def api_of(cluster: Cluster):
    return mistral_api.client(cluster.api_urls()["api-1"])


def witness_records(cluster: Cluster) -> list[dict]:
    return cluster.witness_records()


def runs_of(cluster: Cluster, action_ex_id: str) -> list[dict]:
    return [r for r in witness_records(cluster) if r.get("action_execution_id") == action_ex_id
            and r.get("phase") == "start"]


def until(probe: Callable[[], object], timeout: float, poll: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(poll)


def workflow_of_action(api, action_ex_id: str) -> str:
    return api.tasks.get(api.action_executions.get(action_ex_id).task_execution_id).workflow_execution_id


def test_dropped_on_action_complete_is_recorded_once_with_its_action_execution(cluster: Cluster) -> None:
    api = api_of(cluster)
    ref = reference_workflow("sequence", 2, seconds=0.0)
    mistral_api.ensure_workflow(api, ref.definition)
    fault = make_fault("rpc", {"method": "on_action_complete", "action": "drop", "count": "1"}, "engine-1")
    done = fault.start(cluster, random.Random(5))
    assert done["nodes"] == ["engine-1"] and done["rule"]["count"] == 1
    started: list[str] = []
    try:
        for _ in range(4):  # engine-1 takes about half of the results from the shared mistral_engine queue
            started += [api.executions.create(ref.name, workflow_input={"seconds": 0.0}).id for _ in range(3)]
            if until(lambda: rpc.read_matches(cluster, "engine-1", fault.rule_id), timeout=15):
                break
        states = {ex: mistral_api.wait_terminal(api, ex, timeout=75) for ex in started}
    finally:
        healed = fault.heal(cluster)
    (match,) = healed["matches"]
    assert (match["node"], match["method"], match["side"], match["action"]) == \
        ("engine-1", "on_action_complete", "receive", "drop")
    lost = match["ids"]["action_execution_id"]
    assert len(runs_of(cluster, lost)) == 1, "the executor ran the action once and sent its result"
    victim = workflow_of_action(api, lost)
    action = api.action_executions.get(lost)
    assert match["call"] is False, "the executor casts on_action_complete (async_=True)"
    assert states[victim] == "ERROR" and action.state == "ERROR", (
        f"Mistral 23 never learns the result of a dropped on_action_complete; expected its heartbeat checker "
        f"to fail the action: workflow {states[victim]}, action {action.state} ({action.output})")
    assert "Heartbeat wasn't received" in json.dumps(action.output), action.output
    assert {s for ex, s in states.items() if ex != victim} == {"SUCCESS"}


def test_duplicated_run_action_runs_a_non_idempotent_task_twice(cluster: Cluster) -> None:
    api = api_of(cluster)
    ref = reference_workflow("sequence", 1, seconds=1.0)  # one non-idempotent lab.witness task
    mistral_api.ensure_workflow(api, ref.definition)
    fault = make_fault("rpc", {"method": "run_action", "action": "duplicate", "count": "1"}, "executor")
    fault.start(cluster, random.Random(6))
    try:
        execution = api.executions.create(ref.name, workflow_input={"seconds": 1.0}).id
        state = mistral_api.wait_terminal(api, execution, timeout=60)
    finally:
        healed = fault.heal(cluster)
    (match,) = healed["matches"]
    action_ex = match["ids"]["action_execution_id"]
    assert match["ids"]["workflow_execution_id"] == execution
    runs = runs_of(cluster, action_ex)
    assert len(runs) in (1, 2)
    assert len(runs) == 2, (f"Mistral 23's executor has no duplicate check: a run_action delivered twice runs "
                            f"the non-idempotent action twice (saw {len(runs)} run(s))")
    assert {r["executor"] for r in runs} == {match["node"]}
    assert state == "SUCCESS", f"the second result for an action already complete is ignored, got {state}"


def test_crash_after_run_action_kills_the_executor_and_heal_restarts_it(cluster: Cluster) -> None:
    api = api_of(cluster)
    ref = reference_workflow("sequence", 1, seconds=1.0)
    mistral_api.ensure_workflow(api, ref.definition)
    fault = make_fault("rpc", {"method": "run_action", "action": "crash-after", "count": "1"}, "executor")
    fault.start(cluster, random.Random(7))
    try:
        execution = api.executions.create(ref.name, workflow_input={"seconds": 1.0}).id
        crashed = until(lambda: [n.name for n in cluster.nodes("executor") if n.state != "running"], timeout=30)
        assert len(crashed) == 1, f"one executor should have died, states: {cluster.nodes('executor')}"
        state = mistral_api.wait_terminal(api, execution, timeout=60)
    finally:
        healed = fault.heal(cluster)
    (match,) = healed["matches"]
    assert match["node"] == crashed[0] and healed["restarted"] == {crashed[0]: "started"}
    assert cluster.health()[crashed[0]], "heal waits until the restarted executor consumes again"
    runs = runs_of(cluster, match["ids"]["action_execution_id"])
    assert [r["executor"] for r in runs] == [crashed[0]], "the action started on the executor that then died"
    assert state == "SUCCESS", (f"crash-after kills only after run_action returned, when the result was already "
                                f"cast to the engine; the workflow ended {state}")


def test_whole_cluster_heal_removes_leftover_rules(cluster: Cluster) -> None:
    fault = make_fault("rpc", {"method": "report_running_actions", "action": "delay", "delay_ms": "10",
                               "probability": "0.5"}, "engine")
    fault.start(cluster, random.Random(8))
    found = leftovers(cluster)
    assert sorted(f.split(":")[0] for f in found) == ["engine-1", "engine-2"] and "rpc rules" in found[0]
    repaired = heal_cluster(cluster, timeout=120)
    assert sorted(r.split(":")[0] for r in repaired if "rpc rules" in r) == ["engine-1", "engine-2"]


PROBABILITY_RULE = {"method": "run_action", "side": "receive", "action": "delay", "delay_ms": "1",
                    "probability": "0.5"}


def _probability_run(cluster: Cluster, api, workflow: str, seed: int, executions: int = 3) -> dict:
    """Apply the probability rule to executor-1 with a seeded rng, run `executions` workflows through it, heal:
    the rule's seed, how many candidates executor-1 saw, and the candidate indices it matched."""
    fault = make_fault("rpc", dict(PROBABILITY_RULE), "executor-1")
    done = fault.start(cluster, random.Random(seed))
    try:
        started = [api.executions.create(workflow, workflow_input={"seconds": 0.0}).id for _ in range(executions)]
        states = {ex: mistral_api.wait_terminal(api, ex, timeout=90) for ex in started}
    finally:
        healed = fault.heal(cluster)
    assert set(states.values()) == {"SUCCESS"}, states  # a 1 ms delay changes nothing else
    assert {m["node"] for m in healed["matches"]} <= {"executor-1"}
    return {"seed": done["rule"]["seed"], "seen": healed["candidates"]["executor-1"],
            "matched": sorted(m["index"] for m in healed["matches"])}


def test_a_replay_of_a_probability_rule_matches_the_same_candidates(cluster: Cluster) -> None:
    api = api_of(cluster)
    ref = reference_workflow("parallel", 8, seconds=0.0)  # 8 run_actions per execution, about half to executor-1
    mistral_api.ensure_workflow(api, ref.definition)
    first = _probability_run(cluster, api, ref.name, seed=11)
    replay = _probability_run(cluster, api, ref.name, seed=11)
    other = _probability_run(cluster, api, ref.name, seed=10)
    print(f"\nrpc probability replay: first {first}\n  replay {replay}\n  other seed {other}")
    assert first["seed"] == replay["seed"] != other["seed"]
    for run in (first, replay, other):  # exactly the hook's rule: the k-th candidate matches when draw k < p
        draws = random.Random(run["seed"])
        assert run["matched"] == [k for k in range(run["seen"]) if draws.random() < 0.5], run
    prefix = min(first["seen"], replay["seen"])
    assert prefix >= 6, f"executor-1 saw too few run_actions to compare: {first['seen']}, {replay['seen']}"
    common = [k for k in first["matched"] if k < prefix]
    assert [k for k in replay["matched"] if k < prefix] == common
    assert 0 < len(common) < prefix, "the comparison is trivial: every candidate or none matched"
    other_prefix = min(first["seen"], other["seen"])
    assert [k for k in other["matched"] if k < other_prefix] != [k for k in first["matched"] if k < other_prefix]
