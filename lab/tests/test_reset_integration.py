"""`mistral-lab reset` against real containers: a reset lab is a fresh lab.

The fresh lab here is migrated (templates off at its `up`), so the same comparison also proves that a lab loaded
from the database template equals one that ran `mistral-db-manage upgrade head` and `populate`. It runs beside
the shared lab, so it also shows two labs side by side: apart, a workflow through the second one's API, and a
`down` that leaves nothing of it and never touches the other.
"""
from __future__ import annotations

import json
import random
import re

import pytest
import requests

from typer.testing import CliRunner

from conftest import unique_lab_name
from cluster.backends.compose import PROJECT_LABEL
from cluster.docker_env import engine
from lab.cli import _register_commands, app
from lab.smoke import run_through_every_api

pytestmark = pytest.mark.docker
runner = CliRunner()
_register_commands()

TABLE_COUNTS = {
    "mariadb": ("for t in $(mariadb -N --protocol=socket mistral -e 'show tables'); do "
                "echo \"$t $(mariadb -N --protocol=socket mistral -e \"select count(*) from \\`$t\\`\")\"; done"),
}
SCHEMA = {"mariadb": "mariadb-dump --protocol=socket --no-data --skip-comments --skip-dump-date mistral "
                     "| sed 's/ AUTO_INCREMENT=[0-9]*//'"}
WORKFLOW = """---
version: '2.0'
reset_probe:
  tasks:
    wait:
      action: std.sleep seconds=30
"""


def _sh(cluster, node: str, script: str) -> str:
    code, output = cluster.exec(node, ["sh", "-c", script])
    assert code == 0, output
    return output


def fingerprint(cluster) -> dict:
    """Everything a fresh `up` decides: the database, the broker, faults left, nodes, config, witness, API."""
    from nemesis.heal import leftovers

    db = cluster.topology().db
    queues = _sh(cluster, "broker", "rabbitmqctl -q list_queues name messages")
    api = cluster.api_url("api-1")
    return {
        "tables": sorted(_sh(cluster, "db", TABLE_COUNTS[db]).split("\n")),
        # Indexes a migration added later are listed in another order than those of one CREATE TABLE: compared
        # as a set of lines (every table, column, key and constraint still counts).
        "schema": sorted({line.strip().rstrip(",") for line in _sh(cluster, "db", SCHEMA[db]).splitlines()}),
        # A fanout queue's name ends in a random id each process start makes (fresh or not): compared without it.
        "queue names": sorted(re.sub(r"_fanout_[0-9a-f]{32}$", "_fanout_*", line.split()[0])
                              for line in queues.splitlines()[1:] if line.strip()),
        "queued messages": sum(int(line.split()[1]) for line in queues.splitlines()[1:] if line.strip()),
        "exchanges": sorted(_sh(cluster, "broker", "rabbitmqctl -q list_exchanges name").split()),
        "leftovers": leftovers(cluster),
        "nodes": [(n.name, n.role, n.state) for n in cluster.nodes()],
        "config": [(cluster.state_dir / f).read_text() for f in ("mistral.conf", "compose.yaml", "topology.json")],
        "witness": requests.get(f"{cluster.witness_url()}/records", timeout=10).text,
        "executions": requests.get(f"{api}/v2/executions", timeout=10).json()["executions"],
        "workflows": sorted(w["name"] for w in requests.get(f"{api}/v2/workflows", timeout=10).json()["workflows"]),
    }


def dirty(cluster) -> None:
    """What a fault-injection run leaves: executions in flight, a paused node, a partition, a skewed clock,
    an RPC rule, a role scaled down, witness records."""
    from nemesis import make_fault

    api = cluster.api_url("api-1")
    requests.post(f"{api}/v2/workflows", data=WORKFLOW, headers={"Content-Type": "text/plain"},
                  timeout=30).raise_for_status()
    for _ in range(3):
        requests.post(f"{api}/v2/executions", json={"workflow_name": "reset_probe"}, timeout=30).raise_for_status()
    rng = random.Random(1)
    for name, options, target in [("clock", {"offset_s": 120}, "engine-1"),
                                  ("partition", {}, "executor-2"),
                                  ("rpc", {"method": "run_action", "action": "delay", "delay_ms": 5000}, None)]:
        make_fault(name, options, target).start(cluster, rng)
    cluster.scale("executor", 1, kill=True)
    cluster.pause("engine-1")


@pytest.mark.timeout(900)
def test_a_reset_lab_equals_a_fresh_migrated_lab_and_differs_before_the_reset(shared_cluster, monkeypatch) -> None:
    from cluster import db_template
    from cluster.control import Cluster
    from cluster.images import Images
    from cluster.topology import Topology
    from lab.reset import reset_lab

    name = unique_lab_name("reset")
    cluster = Cluster(name)
    monkeypatch.setenv("MISTRAL_LAB_DB_TEMPLATE", "0")
    cluster.up(Topology(name=name, apis=1, engines=1, executors=2))
    monkeypatch.delenv("MISTRAL_LAB_DB_TEMPLATE")
    try:
        assert (cluster.state_dir / db_template.DECISION_FILE).read_text() == ""  # this one migrated
        assert set(shared_cluster.api_urls().values()).isdisjoint(cluster.api_urls().values())
        fresh = fingerprint(cluster)
        images = Images(**json.loads((cluster.state_dir / "images.json").read_text()))
        db_template.capture(cluster.container("db"), images, "mariadb")  # when no earlier lab left one
        dirty(cluster)
        before = fingerprint(cluster)
        assert before != fresh
        assert before["leftovers"] and before["executions"] and before["nodes"] != fresh["nodes"]
        done = reset_lab(cluster)
        print(f"reset in {done.total_s} s: {done.timings}")
        assert fingerprint(cluster) == fresh
        assert done.repaired, "the heal inside reset found nothing to repair: dirty() did not take"
        # Every node that served before the reset restarts warm (a broken launcher would hide behind the cold
        # way); executor-2, re-created by the reset's scale, may still be importing when it is stopped.
        assert set(done.cold) <= {"executor-2"}, done.cold
        assert run_through_every_api(cluster) == {"api-1": "SUCCESS"}
    finally:
        result = runner.invoke(app, ["down", "--name", name])
    assert result.exit_code == 0, result.output
    selector = {"label": f"{PROJECT_LABEL}={name}"}
    client = engine()
    assert client.containers.list(all=True, filters=selector) == []
    assert client.networks.list(filters=selector) == []
    assert client.volumes.list(filters=selector) == []
    assert runner.invoke(app, ["down", "--name", name]).exit_code == 0  # down is idempotent
    assert all(shared_cluster.health().values())  # and the other lab was never touched

