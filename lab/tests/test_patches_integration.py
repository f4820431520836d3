"""--mistral-src with a tree unpacked from the Mistral sdist (fetched on the host, like the wheels) and patched
with findings/patches/executor-sigterm-abandons-actions.patch: a 1/1/1 cluster runs that tree's code, and the
patch does what the finding says it should (a SIGTERM'd executor finishes its action and sends the result).

The patched tree, its wheelhouse and the Mistral image are cached by content, so only the first run builds
(several minutes); then it takes a cluster bring-up, one workflow and a tear-down."""
from __future__ import annotations

import time

import pytest

from conftest import unique_lab_name
from cluster import mistral_api
from cluster.control import Cluster
from cluster.topology import Topology, parse_overrides
from lab.findings.patches import patched_tree

pytestmark = [pytest.mark.docker, pytest.mark.network]  # network: the sdist and wheels come from the index
FINDING = "executor-sigterm-abandons-actions"
WORKFLOW = """
version: '2.0'
lab_patched:
  tasks:
    slow:
      action: lab.witness seconds=4 label="patched"
"""
# The finding's heartbeat window (2 s x 5): unpatched, the stopped executor's action is failed ~10 s later.
OVERRIDES = ["action_heartbeat.check_interval=2", "action_heartbeat.max_missed_heartbeats=5",
             "action_heartbeat.first_heartbeat_timeout=30"]
WHICH_CODE = ("import importlib.metadata as m; from mistral.executors.executor_server import ExecutorServer as S; "
              "print(m.version('mistral'), hasattr(S, '_wait_for_running_actions'))")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def test_a_cluster_built_from_the_patched_sdist_runs_its_code_and_finishes_a_sigtermed_action(docker_ready
                                                                                              ) -> None:
    started = time.monotonic()
    tree = patched_tree(FINDING)  # sdist fetched on the host (cached), unpacked, patched
    name = unique_lab_name("patched")
    cluster = Cluster(name)
    topology = Topology(name=name, apis=1, engines=1, executors=1, mistral_src=str(tree),
                        overrides=parse_overrides(OVERRIDES))
    cluster.up(topology, report=lambda m: print(f"[{name}] {m}", flush=True))
    try:
        up_s = time.monotonic() - started
        # The tree's code runs in every Mistral node: pbr's version for a tree without git, the patch's method.
        for node in ("api-1", "engine-1", "executor-1"):
            result = cluster.container(node).exec_run(["/opt/mistral/bin/python", "-W", "ignore", "-c", WHICH_CODE],
                                                      stderr=False)
            assert (result.exit_code, result.output.decode().strip()) == (0, "0.0.0.dev0 True"), node

        api = mistral_api.client(cluster.api_url("api-1"))
        mistral_api.ensure_workflow(api, WORKFLOW)
        execution = api.executions.create("lab_patched").id
        _wait(lambda: cluster.in_flight_actions("executor-1") == 1, 60, "the action to start on executor-1")
        cluster.stop("executor-1")  # SIGTERM mid-action, as the finding's scale fault does; returns once it exited
        # Patched, the executor finished the action and sent its result before exiting; unpatched, the engine
        # fails the action by heartbeat and the execution ends ERROR.
        assert mistral_api.wait_terminal(api, execution, timeout=60) == "SUCCESS"
        assert cluster.in_flight_actions("executor-1") == 0
        print(f"[{name}] up {up_s:.0f}s, total {time.monotonic() - started:.0f}s", flush=True)
    finally:
        cluster.down()
    assert not cluster.exists()
