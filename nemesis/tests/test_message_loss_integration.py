"""The message-loss fault against the shared 2/2/2 cluster: with every executor cut off, the run_action casts
of new workflows wait in the broker; heal purges them (counting them) and restarts the executors, and Mistral
23 never runs those actions: the heartbeat checker fails them and their workflows end in ERROR. The cluster
fixture heals the whole cluster afterwards and proves nothing is left."""
from __future__ import annotations

import json
import random

import pytest

from cluster import mistral_api
from cluster.control import Cluster
from nemesis import make_fault
from nemesis.message_loss import queues, waiting
from nemesis.tests.test_rpc_integration import api_of, runs_of, until
from workloads.reference import reference_workflow

pytestmark = pytest.mark.docker

STARTED = 3


def test_run_actions_sent_while_every_executor_is_away_are_purged_and_never_run(cluster: Cluster) -> None:
    api = api_of(cluster)
    ref = reference_workflow("sequence", 1, seconds=0.0)  # one lab.witness task: one run_action per execution
    mistral_api.ensure_workflow(api, ref.definition)
    fault = make_fault("message-loss", {}, "executor")
    done = fault.start(cluster, random.Random(3))
    assert done["killed"] == ["executor-1", "executor-2"] and done["effect_at_heal"] == "purged"
    try:
        started = [api.executions.create(ref.name, workflow_input={"seconds": 0.0}).id for _ in range(STARTED)]
        queued = until(lambda: waiting(queues(cluster), done["queues"]).get("mistral_executor", 0) >= STARTED,
                       timeout=60)
        assert queued, f"the run_action casts never waited in the broker: {queues(cluster)}"
    finally:
        healed = fault.heal(cluster)
    assert healed["purged"] == {"mistral_executor": STARTED} and healed["lost_messages"] == STARTED, healed
    assert healed["restarted"] == {"executor-1": "started", "executor-2": "started"}
    assert cluster.rpc_consumers().get("mistral_executor") == 2, "heal waits until both executors consume"

    actions = {ex: [a for t in api.tasks.list(workflow_execution_id=ex) for a in api.action_executions.list(t.id)]
               for ex in started}
    assert all(len(found) == 1 for found in actions.values()), actions
    lost = {ex: found[0] for ex, found in actions.items()}
    # Mistral 23 never resends a run_action: the restarted executors see nothing, the witness records no run.
    states = {ex: mistral_api.wait_terminal(api, ex, timeout=90) for ex in started}
    assert all(runs_of(cluster, action.id) == [] for action in lost.values()), "a purged run_action ran"
    for ex, action in lost.items():
        action = api.action_executions.get(action.id)
        assert (states[ex], action.state) == ("ERROR", "ERROR"), (
            f"a lost run_action leaves an action no executor runs; expected the heartbeat checker to fail it "
            f"after first_heartbeat_timeout: workflow {states[ex]}, action {action.state}")
        assert "Heartbeat wasn't received" in json.dumps(action.output), action.output
