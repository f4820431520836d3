"""Every fault kind against the shared 2/2/2 cluster: inject, observe the effect, heal, run a workflow to
SUCCESS. Each test leaves the cluster healed, with no lab rule, qdisc, paused or stopped node."""
from __future__ import annotations

import random
import time
from typing import Callable

import pytest

from cluster import mistral_api
from cluster.control import Cluster
from cluster.errors import LabError
from lab.smoke import SMOKE_WORKFLOW, run_through_every_api
from nemesis import make_fault
from nemesis.heal import heal_cluster, leftovers
from nemesis.message_loss import queues
from nemesis.netem import NETEM_MISSING
from nemesis.schedule import FaultSpec, NemesisRunner, Schedule, inventory_of
from nemesis.tests.probes import connect, transfer_seconds

pytestmark = pytest.mark.docker


_verified = {"healed": False}


def assert_healed_and_working(cluster: Cluster) -> None:
    heal_cluster(cluster, timeout=240)
    assert leftovers(cluster) == []
    assert [n.name for n in cluster.nodes()] == ["api-1", "api-2", "engine-1", "engine-2", "executor-1",
                                                 "executor-2", "broker", "db", "witness"]
    assert set(run_through_every_api(cluster, timeout=90).values()) == {"SUCCESS"}
    _verified["healed"] = True


@pytest.fixture
def cluster(shared_cluster: Cluster):
    """The shared cluster; healed afterwards unless the test ended by proving it healed (saves a heal)."""
    _verified["healed"] = False
    try:
        yield shared_cluster
    finally:
        if not _verified["healed"]:
            heal_cluster(shared_cluster, timeout=240)


def eventually(probe: Callable[[], object], expected: object, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def consumers(cluster: Cluster, queue: str) -> int:
    return cluster.rpc_consumers().get(queue, -1)


def queue_info(cluster: Cluster, name: str) -> dict:
    return next(q for q in queues(cluster) if q["name"] == name)


def test_partitions_cut_connections_but_never_the_witness(cluster: Cluster) -> None:
    rng = random.Random(11)
    isolate = make_fault("partition", {}, "api-1")
    done = isolate.start(cluster, rng)
    assert "api-1" in done["cut"]["db"]
    assert connect(cluster, "api-1", "db", 3306) == "refused"          # reset, not a hang
    assert connect(cluster, "api-1", "witness", 7777) == "ok"
    assert connect(cluster, "api-2", "db", 3306) == "ok"
    isolate.heal(cluster)
    assert connect(cluster, "api-1", "db", 3306) == "ok"

    roles = make_fault("partition", {"from": "broker"}, "engine")
    roles.start(cluster, rng)
    assert connect(cluster, "engine-1", "broker", 5672) == "refused"
    assert connect(cluster, "engine-2", "broker", 5672) == "refused"
    assert connect(cluster, "engine-1", "db", 3306) == "ok"
    assert connect(cluster, "executor-1", "broker", 5672) == "ok"
    roles.heal(cluster)

    ring = make_fault("partition", {"topology": "ring"})
    cut = ring.start(cluster, rng)["cut"]
    assert sorted(cut) == ["api-1", "api-2", "broker", "db", "engine-1", "engine-2", "executor-1", "executor-2"]
    node, peers = next((n, p) for n, p in cut.items() if n.startswith(("api", "engine", "executor")))
    assert connect(cluster, node, peers[0], 1) == "refused"  # any port: the reset comes from the rule
    assert len([c for c in leftovers(cluster) if "chain" in c]) >= 8
    ring.heal(cluster)
    assert leftovers(cluster) == []
    assert_healed_and_working(cluster)


def test_nodes_out_and_pause_then_heal_brings_everything_back(cluster: Cluster) -> None:
    rng = random.Random(3)
    api = mistral_api.client(cluster.api_urls()["api-1"])
    mistral_api.ensure_workflow(api, SMOKE_WORKFLOW)
    kill = make_fault("kill", {"wait": "false"}, "executor")
    assert kill.start(cluster, rng) == {"killed": ["executor-1", "executor-2"]}
    stop = make_fault("stop", {"grace": "20", "wait": "false"}, "engine-2")
    assert stop.start(cluster, rng)["exit_codes"] == {"engine-2": 0}  # SIGTERM: a clean exit, not a kill
    assert {cluster.node(n).state for n in ("executor-1", "executor-2", "engine-2")} == {"exited"}
    found = eventually(lambda: [cluster.rpc_consumers().get(q) for q in (
        "mistral_executor.executor-1", "mistral_executor.executor-2", "mistral_engine.engine-2")], [0, 0, 0])
    assert found == [0, 0, 0]

    # Without executors, an action waits in the broker as a ready message (what message-loss purges:
    # nemesis/tests/test_message_loss_integration.py); the executors take it once they are back.
    api.executions.create("lab_smoke")
    assert eventually(lambda: queue_info(cluster, "mistral_executor")["messages_ready"], 1) == 1

    stop.heal(cluster)
    kill.heal(cluster)
    cluster.wait_ready(timeout=180)
    assert all(cluster.rpc_consumers().get(q) == 1 for q in (
        "mistral_executor.executor-1", "mistral_executor.executor-2", "mistral_engine.engine-2"))

    # A paused executor keeps its consumer but processes nothing: round-robin hands it actions that stay
    # unacknowledged until it is resumed.
    pause = make_fault("pause", {}, "executor-1")
    pause.start(cluster, rng)
    assert cluster.node("executor-1").state == "paused"
    started = [api.executions.create("lab_smoke").id for _ in range(4)]
    held = eventually(lambda: queue_info(cluster, "mistral_executor")["messages_unacknowledged"] > 0, True)
    assert held is True
    assert "RUNNING" in {api.executions.get(i).state for i in started}
    pause.heal(cluster)
    assert {mistral_api.wait_terminal(api, i, 90) for i in started} == {"SUCCESS"}
    assert_healed_and_working(cluster)


def test_scaling_down_abruptly_then_heal_scales_back_up(cluster: Cluster) -> None:
    rng = random.Random(5)
    down = make_fault("scale", {"delta": "-1", "kill": "true"}, "executor")
    assert down.start(cluster, rng) == {"role": "executor", "from": 2, "to": 1, "killed": ["executor-2"]}
    assert [n.name for n in cluster.nodes("executor")] == ["executor-1"]
    assert cluster.topology().executors == 1
    assert consumers(cluster, "mistral_executor.executor-2") in (0, -1)  # no consumer (or no queue) left
    assert down.heal(cluster) == {"restored": {"executor": ["executor-2"]}}  # heal scales back up
    assert cluster.topology().executors == 2 and consumers(cluster, "mistral_executor.executor-2") == 1
    assert_healed_and_working(cluster)


def test_broker_and_database_outages_then_recovery(cluster: Cluster) -> None:
    rng = random.Random(8)
    broker = make_fault("broker", {"mode": "kill"})
    broker.start(cluster, rng)
    assert cluster.node("broker").state == "exited" and cluster.rpc_consumers() == {}
    assert connect(cluster, "engine-1", "broker", 5672) != "ok"
    broker.heal(cluster)  # waits until every engine and executor consumes again
    assert set(run_through_every_api(cluster, timeout=90).values()) == {"SUCCESS"}

    isolated = make_fault("broker", {"mode": "isolate"})
    isolated.start(cluster, rng)
    assert connect(cluster, "executor-2", "broker", 5672) == "refused"
    isolated.heal(cluster)

    db = make_fault("db", {"mode": "stop"})
    db.start(cluster, rng)
    assert cluster.node("db").state == "exited"
    assert not cluster.api_answers("api-1")  # the API cannot read workflows without its database
    db.heal(cluster)
    assert cluster.api_answers("api-1")
    assert_healed_and_working(cluster)


def test_packet_loss_bandwidth_and_netem_detection(cluster: Cluster) -> None:
    rng = random.Random(4)
    loss = make_fault("packet-loss", {"probability": "1.0"}, "engine-1")
    loss.start(cluster, rng)
    assert connect(cluster, "engine-1", "db", 3306) == "timeout"      # dropped, not refused
    assert connect(cluster, "engine-1", "witness", 7777) == "ok"
    loss.heal(cluster)
    assert connect(cluster, "engine-1", "db", 3306) == "ok"

    size = 96 * 1024
    assert transfer_seconds(cluster, "api-1", "api-2", size) < 1.0
    limit = make_fault("bandwidth", {"rate": "256kbit"}, "api-1")
    assert limit.start(cluster, rng)["witness"] == {"api-1": "witness-exempt"}
    assert transfer_seconds(cluster, "api-1", "api-2", size) >= 2.0   # 96 KiB at 32 KiB/s
    limit.heal(cluster)
    assert leftovers(cluster) == []

    delay = make_fault("netem", {"delay_ms": "300"}, "api-1")
    try:
        delay.start(cluster, rng)
    except LabError as exc:
        assert str(exc) == NETEM_MISSING  # this kernel lacks sch_netem: said clearly, nothing changed
    else:
        started = time.monotonic()
        assert connect(cluster, "api-1", "api-2", 8989) == "ok"
        assert time.monotonic() - started >= 0.3
        delay.heal(cluster)
    assert leftovers(cluster) == []
    assert_healed_and_working(cluster)


def test_a_seeded_schedule_runs_records_every_step_and_heals(cluster: Cluster) -> None:
    records: list[tuple] = []
    spec = [FaultSpec("pause", "random:executor"), FaultSpec("partition", None, {"topology": "bridge"})]
    schedule = Schedule(spec, seed=2024, interval_s=5, duration_s=2, start_s=0,
                        inventory=inventory_of(cluster.topology()))
    planned = list(schedule.decisions(10))
    runner = NemesisRunner(cluster, schedule, lambda *event: records.append(event), total_s=10)
    runner.start()
    runner.join(300)
    assert not runner.is_alive() and runner.errors == [] and runner.injected == len(planned) == 2
    starts = [(f, v) for p, t, f, v in records if t == "ok" and v.get("action") == "start"]
    assert [f for f, _ in starts] == [d.fault for d in planned]
    assert all(p == "nemesis" and t in ("invoke", "ok") for p, t, _, _ in records)
    assert records[-1][2:] == ("heal", records[-1][3]) and records[-1][1] == "ok"
    assert leftovers(cluster) == []
    assert_healed_and_working(cluster)
