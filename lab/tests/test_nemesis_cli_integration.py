"""`mistral-lab nemesis` and `mistral-lab heal` as a user runs them: bad targets leave the cluster untouched,
Ctrl-C or SIGTERM mid-fault heals before exiting, and `heal` cleans up after a lab process that died."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lab.cli import _register_commands, app
from cluster.control import Cluster
from cluster.errors import LabError
from nemesis.heal import heal_cluster, leftovers

pytestmark = pytest.mark.docker
LAB = str(Path(sys.executable).with_name("mistral-lab"))
runner = CliRunner()
_register_commands()


@pytest.fixture
def cluster(shared_cluster: Cluster):
    """The shared cluster, healed afterwards when a test left something behind (a failure part-way)."""
    try:
        yield shared_cluster
    finally:
        if leftovers(shared_cluster) or not all(shared_cluster.health().values()):
            heal_cluster(shared_cluster, timeout=240)


BAD_TARGETS = [
    (["partition", "--target", "engine-9"], "no node 'engine-9'"),
    (["partition", "--target", "api-1", "-o", "from=executor-7"], "no node 'executor-7'"),
    (["message-loss", "--target", "notifier"], "has no notifier node"),
    (["scale", "--target", "engine", "-o", "delta=-2"], "invalid engine count 0"),
]


def test_targets_that_do_not_exist_leave_the_cluster_untouched(cluster: Cluster) -> None:
    before = [(n.name, n.state) for n in cluster.nodes()]
    for args, message in BAD_TARGETS:
        result = runner.invoke(app, ["nemesis", *args, "--name", cluster.name, "--duration", "1"])
        assert result.exit_code != 0, args
        assert isinstance(result.exception, LabError) and message in str(result.exception), result.exception
        assert [(n.name, n.state) for n in cluster.nodes()] == before
    assert leftovers(cluster) == [] and cluster.topology().engines == 2


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "fault never showed up"
        time.sleep(0.5)


def _start(cluster: Cluster, *args: str) -> subprocess.Popen:
    return subprocess.Popen([LAB, "nemesis", *args, "--name", cluster.name, "--duration", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})


def test_interrupted_mid_fault_the_lab_heals_and_heal_leaves_nothing_behind(cluster: Cluster) -> None:
    # Ctrl-C during a partition: the process heals itself before it exits.
    proc = _start(cluster, "partition", "--target", "engine-1")
    _wait_for(lambda: any("chain" in item for item in leftovers(cluster)))
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 130, output
    assert "interrupted: healing" in output
    assert leftovers(cluster) == []

    # SIGTERM during a pause: same.
    proc = _start(cluster, "pause", "--target", "executor-2")
    _wait_for(lambda: cluster.node("executor-2").state == "paused")
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 130, output
    assert leftovers(cluster) == []

    # A lab process killed outright cannot heal: `mistral-lab heal` finds and removes what it left, plus
    # a paused and a killed node left by hand.
    proc = _start(cluster, "bandwidth", "--target", "api-1", "-o", "rate=512kbit")
    _wait_for(lambda: any("qdisc" in item for item in leftovers(cluster)))
    proc.kill()
    proc.wait(timeout=30)
    cluster.pause("executor-1")
    cluster.kill("engine-2")
    left = leftovers(cluster)
    assert {"executor-1 is paused", "engine-2 is exited", "api-1: qdisc htb"} <= set(left), left

    healed = subprocess.run([LAB, "heal", "--name", cluster.name], capture_output=True, text=True, timeout=300)
    assert healed.returncode == 0, healed.stderr
    assert "resumed executor-1" in healed.stdout and "started engine-2" in healed.stdout
    assert "api-1: removed qdisc htb" in healed.stdout
    assert leftovers(cluster) == []
    assert all(cluster.health().values())

    again = subprocess.run([LAB, "heal", "--name", cluster.name], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "nothing to heal" in again.stdout  # idempotent


def test_one_fault_by_hand_reports_and_heals(cluster: Cluster) -> None:
    result = subprocess.run([LAB, "nemesis", "pause", "--name", cluster.name, "--target", "random:executor",
                             "--seed", "5", "--duration", "1", "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["plan", "started", "healed"]
    assert events[0]["seed"] == 5 and events[1]["done"]["paused"][0] in ("executor-1", "executor-2")
    assert events[2]["done"]["resumed"] == events[1]["done"]["paused"]
    assert cluster.node("executor-1").running and cluster.node("executor-2").running
    assert leftovers(cluster) == []
