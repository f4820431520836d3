"""Seeded schedules are deterministic; the runner records every step and always heals (fake cluster)."""
from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from cluster.errors import LabError
from cluster.topology import Topology
from nemesis import base, heal
from nemesis.base import Fault, Opt
from nemesis.schedule import FaultSpec, NemesisRunner, Schedule, inventory_of

INVENTORY = inventory_of(Topology(apis=2, engines=2, executors=2))


def test_same_seed_and_spec_give_the_same_schedule() -> None:
    first = list(Schedule("chaos", seed=42, interval_s=20, duration_s=8, inventory=INVENTORY).decisions(600))
    second = list(Schedule("chaos", seed=42, interval_s=20, duration_s=8, inventory=INVENTORY).decisions(600))
    assert len(first) == 29 and first == second
    other = list(Schedule("chaos", seed=43, interval_s=20, duration_s=8, inventory=INVENTORY).decisions(600))
    assert other != first
    assert len({d.fault for d in first}) >= 6  # chaos really mixes fault kinds


def test_listed_faults_with_random_targets_resolve_to_nodes_deterministically() -> None:
    spec = [FaultSpec("kill", "random:executor"), {"fault": "partition", "options": {"topology": "ring"}},
            FaultSpec("pause", "random")]
    runs = [list(Schedule(spec, seed=7, interval_s=10, duration_s=4, inventory=INVENTORY).decisions(200))
            for _ in range(2)]
    assert runs[0] == runs[1]
    kills = [d for d in runs[0] if d.fault == "kill"]
    assert kills and all(d.target in ("executor-1", "executor-2") for d in kills)
    assert all(d.target in {n for names in INVENTORY.values() for n in names} for d in runs[0] if d.fault == "pause")


def test_faults_never_overlap_and_end_within_the_run() -> None:
    decisions = list(Schedule("chaos", seed=1, interval_s=15, duration_s=10, jitter=0.9).decisions(300))
    for current, following in zip(decisions, decisions[1:]):
        assert current.at_s + current.duration_s <= following.at_s
    assert decisions[-1].at_s + decisions[-1].duration_s <= 300


def test_chaos_respects_exclusions() -> None:
    decisions = list(Schedule("chaos", seed=3, interval_s=5, duration_s=1,
                              exclude=("scale", "db", "broker", "netem")).decisions(1000))
    assert not {d.fault for d in decisions} & {"scale", "db", "broker", "netem"}
    from_spec = Schedule([{"fault": "chaos", "options": {"exclude": ["scale", "db", "broker", "netem"]}}],
                         seed=3, interval_s=5, duration_s=1)
    assert list(from_spec.decisions(1000)) == decisions
    with pytest.raises(LabError, match="chaos exclude: unknown fault 'nuke'"):
        Schedule("chaos", seed=3, exclude=("nuke",))


@pytest.mark.parametrize("kwargs, message", [
    ({"spec": ["kill"], "duration_s": 0}, "must be > 0"),
    ({"spec": ["kill"], "duration_s": 30, "interval_s": 30}, "must be shorter than the interval"),
    ({"spec": ["explode"]}, "unknown fault 'explode'"),
    ({"spec": [FaultSpec("kill", "witness")]}, "witness is never a fault target"),
    ({"spec": []}, "empty nemesis spec"),
])
def test_bad_schedules_are_refused(kwargs: dict, message: str) -> None:
    args = {"seed": 1, "interval_s": 30.0, "duration_s": 10.0, **kwargs}
    with pytest.raises(LabError, match=message):
        Schedule(args.pop("spec"), **args)


# ------------------------------------------------------------------ runner against a fake cluster
class FakeFault(Fault):
    name = "fake"
    OPTIONS = {"fail": Opt(bool, False, "start raises"), "heal_s": Opt(float, 0.0, "seconds a heal takes")}
    ROLES = ("engine",)
    DEFAULT_TARGET = "random"
    log: list[str] = []

    def start(self, cluster: Any, rng: random.Random) -> dict[str, Any]:
        FakeFault.log.append(f"start {self.target}")
        if self.options["fail"]:
            raise LabError("boom")
        return {"node": self.target}

    def heal(self, cluster: Any) -> dict[str, Any]:
        time.sleep(self.options["heal_s"])
        FakeFault.log.append(f"heal {self.target}")
        return {"node": self.target}

    def describe(self) -> str:
        return f"fake on {self.target}"


@pytest.fixture
def fake_fault(monkeypatch) -> list[str]:
    monkeypatch.setitem(base.FAULTS, "fake", FakeFault)
    FakeFault.log = []
    healed_clusters: list[str] = []
    monkeypatch.setattr(heal, "heal_cluster", lambda cluster, **_: healed_clusters.append("healed") or ["x"])
    return healed_clusters


def _records() -> tuple[list[tuple], Any]:
    records: list[tuple] = []
    lock = threading.Lock()

    def record(process, type, f, value):  # noqa: A002  (the history contract's names)
        with lock:
            records.append((process, type, f, value))
    return records, record


def test_runner_records_start_and_heal_of_each_fault_and_heals_the_cluster(fake_fault) -> None:
    records, record = _records()
    schedule = Schedule([FaultSpec("fake", "engine-1")], seed=5, interval_s=0.2, duration_s=0.05, start_s=0)
    runner = NemesisRunner(object(), schedule, record, total_s=0.65)
    runner.start()
    runner.join(5)
    assert not runner.is_alive() and runner.injected == 3 and runner.errors == []
    assert FakeFault.log == ["start engine-1", "heal engine-1"] * 3
    shape = [(p, t, f, v["action"]) for p, t, f, v in records]
    assert shape == [("nemesis", "invoke", "fake", "start"), ("nemesis", "ok", "fake", "start"),
                     ("nemesis", "invoke", "fake", "heal"), ("nemesis", "ok", "fake", "heal")] * 3 + [
        ("nemesis", "invoke", "heal", "heal-cluster"), ("nemesis", "ok", "heal", "heal-cluster")]
    assert fake_fault == ["healed"] and runner.active_faults() == []


def test_runner_stopped_mid_fault_heals_it(fake_fault) -> None:
    records, record = _records()
    schedule = Schedule([FaultSpec("fake", "engine-2")], seed=5, interval_s=60, duration_s=30, start_s=0,
                        jitter=0)
    runner = NemesisRunner(object(), schedule, record)
    runner.start()
    deadline = time.monotonic() + 5
    while not runner.active_faults() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.active_faults()[0]["description"] == "fake on engine-2"
    runner.stop()
    runner.join(5)
    assert FakeFault.log == ["start engine-2", "heal engine-2"] and fake_fault == ["healed"]
    assert runner.active_faults() == []


def test_failed_start_is_recorded_as_info_and_still_healed(fake_fault) -> None:
    records, record = _records()
    schedule = Schedule([FaultSpec("fake", "engine-1", {"fail": True})], seed=1, interval_s=0.2, duration_s=0.05,
                        start_s=0)
    runner = NemesisRunner(object(), schedule, record, total_s=0.1)
    runner.start()
    runner.join(5)
    assert [(t, f) for _, t, f, _ in records[:2]] == [("invoke", "fake"), ("info", "fake")]
    assert "boom" in records[1][3]["error"]
    assert FakeFault.log == ["start engine-1", "heal engine-1"] and runner.injected == 0


def test_slow_heals_delay_faults_but_never_drop_them(fake_fault) -> None:
    """A replay must apply the same faults in the same order, however long each heal takes."""
    records, record = _records()
    schedule = Schedule([FaultSpec("fake", "engine-1", {"heal_s": 0.35})], seed=1, interval_s=0.2,
                        duration_s=0.05, start_s=0, jitter=0)
    assert len(list(schedule.decisions(1.0))) == 5  # at 0, 0.2, ... 0.8
    runner = NemesisRunner(object(), schedule, record, total_s=1.0)
    started = time.monotonic()
    runner.start()
    runner.join(10)
    # Each fault lasts 0.05 s and heals in 0.35 s: all five run back to back, late but in order.
    assert runner.injected == 5 and 5 * 0.4 <= time.monotonic() - started < 4.0
    assert FakeFault.log == ["start engine-1", "heal engine-1"] * 5
