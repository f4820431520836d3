"""A real three-host swarm on this machine: three Docker engines, each in its own network namespace
(cluster/tests/netns_hosts.py), the lab driving the manager through DOCKER_HOST and the two workers through a
hosts file of tcp:// engines, exactly as on three machines.

up 1/2/2 spread over the workers (images copied to them by the lab), status with the host of every node, a
workflow, a host-level partition (the worker's traffic with every peer dropped: its nodes cannot reach the
broker; the lab still reaches its engine; heal restores it), a drained host (swarm stops its tasks; heal
restarts them on the same host), a host whose Docker engine is stopped (the hosts file's engine-stop command;
heal starts it and restarts its nodes), and a down that leaves nothing on any engine.

Several minutes and root (network namespaces, a dockerd per host): `make multihost-test`
(MISTRAL_LAB_MULTIHOST_TEST=1), not part of `make test`.
"""
from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SHARED_OVERRIDES, unique_lab_name
from lab.cli import _register_commands, app

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.environ.get("MISTRAL_LAB_MULTIHOST_TEST") != "1",
                       reason="three engines and a swarm (~6 min): set MISTRAL_LAB_MULTIHOST_TEST=1 or run "
                              "`make multihost-test`"),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and extra dockerd need root"),
]
runner = CliRunner()
_register_commands()
STACK_LABEL = "com.docker.stack.namespace"


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.stdout


@pytest.fixture(scope="module")
def hosts(docker_ready, tmp_path_factory):
    from cluster.images import ensure_images, local_base
    from cluster.tests.netns_hosts import create_hosts, hosts_file, load_images, make_swarm, remove_hosts

    built = ensure_images()  # on this machine's engine; the manager gets them here, the workers from the lab
    base = local_base()  # image tags hash the base image's id: without it the manager would rebuild everything
    sim = create_hosts(uuid.uuid4().hex[:4], 3, subnet=random.randint(100, 199))
    try:
        load_images(sim.hosts[0], [built.mistral, built.infra, *([base] if base else [])])
        make_swarm(sim)
        yield sim, hosts_file(sim, tmp_path_factory.mktemp("hosts") / "hosts")
    finally:
        remove_hosts(sim)


@pytest.fixture(scope="module")
def lab(hosts, tmp_path_factory):
    from cluster.control import Cluster
    from cluster.docker_env import engine

    sim, path = hosts
    name = unique_lab_name("multihost")
    sets = [item for override in SHARED_OVERRIDES for item in ("--set", override)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", sim.hosts[0].docker_host)
        patch.setenv("MISTRAL_LAB_STATE", str(tmp_path_factory.mktemp("state")))
        engine.cache_clear()  # the process's client was made for this machine's engine
        try:
            _cli("up", "--backend", "swarm", "--hosts", str(path), "--placement", "spread", "--name", name,
                 "--apis", "1", "--engines", "2", "--executors", "2", "--timeout", "900", *sets)
            yield Cluster(name), sim
        finally:
            runner.invoke(app, ["down", "--name", name])
            engine.cache_clear()


def _workflow_succeeds(cluster) -> None:
    from lab.smoke import run_through_every_api

    assert run_through_every_api(cluster) == {"api-1": "SUCCESS"}


def _reaches_broker(cluster, node: str) -> bool:
    code, _ = cluster.exec(node, ["python3", "-c", "import socket; socket.create_connection(('broker', 5672), 3)"])
    return code == 0


def test_nodes_spread_over_the_hosts_with_images_copied_by_the_lab(lab) -> None:
    cluster, sim = lab
    document = json.loads(_cli("status", "--name", cluster.name, "--json"))
    where = {node["name"]: node["host"] for node in document["nodes"]}
    manager, first, second = (h.name for h in sim.hosts)
    assert where["db"] == where["broker"] == where["api-1"] == manager
    assert {where["engine-1"], where["executor-1"]} == {first}
    assert {where["engine-2"], where["executor-2"]} == {second}
    assert all(node["healthy"] for node in document["nodes"])
    url = next(node["url"] for node in document["nodes"] if node["name"] == "api-1")
    assert url.startswith(f"http://{sim.hosts[0].address}:")  # the manager's ports, reached at DOCKER_HOST
    _workflow_succeeds(cluster)


def test_host_partition_cuts_a_worker_off_and_heals(lab) -> None:
    cluster, sim = lab
    assert _reaches_broker(cluster, "executor-1")
    output = _cli("nemesis", "host-partition", "--name", cluster.name, "--target", "executor-1",
                  "--duration", "8")
    assert sim.hosts[1].name in output and "engine-1" in output and "executor-1" in output
    assert _reaches_broker(cluster, "executor-1")
    assert cluster.health()["executor-1"] and cluster.health()["engine-1"]
    _workflow_succeeds(cluster)


def test_a_cut_host_cannot_reach_the_broker_while_the_lab_still_reaches_its_engine(lab) -> None:
    from cluster.errors import LabError
    from nemesis import make_fault

    cluster, _ = lab
    fault = make_fault("host-partition", {"wait": True}, "executor-2")
    fault.start(cluster, random.Random(1))
    try:
        assert not _reaches_broker(cluster, "executor-2")   # data plane cut
        assert _reaches_broker(cluster, "executor-1")       # the other worker untouched
        with pytest.raises(LabError, match="runs on the manager"):
            make_fault("host-partition", {}, "api-1").start(cluster, random.Random(1))
    finally:
        assert fault.heal(cluster)["restored"] == 2          # INPUT and OUTPUT jumps removed
    assert _reaches_broker(cluster, "executor-2")


def test_drained_host_stops_its_tasks_and_heal_restarts_them(lab) -> None:
    from nemesis import make_fault

    cluster, sim = lab
    fault = make_fault("host-drain", {}, "executor-2")
    done = fault.start(cluster, random.Random(1))
    assert done["host"] == sim.hosts[2].name and done["nodes"] == ["engine-2", "executor-2"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(n.running for n in cluster.nodes() if n.name in done["nodes"]):
        time.sleep(1)
    assert not any(n.running for n in cluster.nodes() if n.name in done["nodes"])
    healed = fault.heal(cluster)
    assert set(healed["restarted"]) == {"engine-2", "executor-2"}
    where = {n.name: n.host for n in cluster.nodes()}
    assert where["engine-2"] == where["executor-2"] == sim.hosts[2].name  # pinned: back on the same host
    _workflow_succeeds(cluster)


def test_a_stopped_engine_takes_its_nodes_and_heal_brings_them_back(lab) -> None:
    from nemesis import make_fault

    cluster, sim = lab
    fault = make_fault("host-engine-stop", {}, "executor-1")
    done = fault.start(cluster, random.Random(1))  # the hosts file's engine-stop: SIGTERM to that dockerd
    assert done["host"] == sim.hosts[1].name and done["nodes"] == ["engine-1", "executor-1"]
    host = next(h for h in cluster.backend.swarm_hosts() if h.hostname == sim.hosts[1].name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and cluster.backend.node_status(host) == "ready":
        time.sleep(1)
    assert cluster.backend.node_status(host) == "down"  # the manager lost that node
    states = {n.name: n.state for n in cluster.nodes()}
    assert states["engine-1"] == states["executor-1"] == "unreachable" and states["engine-2"] == "running"
    healed = fault.heal(cluster)
    assert healed["restarted"] == {"engine-1": "started", "executor-1": "started"}
    where = {n.name: (n.host, n.state) for n in cluster.nodes()}
    assert where["engine-1"] == where["executor-1"] == (sim.hosts[1].name, "running")
    _workflow_succeeds(cluster)


def test_down_leaves_nothing_on_any_engine(lab) -> None:
    import docker

    cluster, sim = lab
    _cli("down", "--name", cluster.name)
    selector = {"label": f"{STACK_LABEL}={cluster.name}"}
    for host in sim.hosts:
        client = docker.DockerClient(base_url=host.docker_host)
        assert client.containers.list(all=True, filters=selector) == []
        assert client.volumes.list(filters=selector) == []
        assert client.containers.list(all=True, filters={"label": "mistral-lab.helper"}) == []
    manager = docker.DockerClient(base_url=sim.hosts[0].docker_host)
    assert manager.services.list(filters=selector) == []
    assert manager.info()["Swarm"]["LocalNodeState"] == "active"  # a swarm the lab did not create stays
    assert not Path(cluster.state_dir).exists()
