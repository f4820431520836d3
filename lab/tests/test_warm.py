"""Warm labs: one running lab per topology, reset between runs; a failed reset gives a fresh lab and says so."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

from cluster.errors import LabError
from lab.spec import apply_overrides, load_spec
from lab.warm import FRESH, RESET, WarmLabs


class FakeCluster:
    running: set[str] = set()

    def __init__(self, name: str) -> None:
        self.name = name

    def exists(self) -> bool:
        return self.name in FakeCluster.running

    def down(self) -> None:
        FakeCluster.running.discard(self.name)


def _warm(tmp_path: Path, resets: list, said: list[str], fresh: bool = False) -> tuple[WarmLabs, list[dict]]:
    calls: list[dict] = []

    def run(spec, store, lab_name=None, keep=False, reuse=False, lab_start=None, **_):
        calls.append({"lab": lab_name, "keep": keep, "reuse": reuse, "start": lab_start})
        if lab_name:
            FakeCluster.running.add(lab_name)
        return SimpleNamespace(run_dir=tmp_path)

    def reset(cluster):
        outcome = resets.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return SimpleNamespace(total_s=3.0)

    FakeCluster.running = set()
    return WarmLabs("t", fresh=fresh, say=said.append, run_fn=run, reset_fn=reset, cluster_fn=FakeCluster), calls


def test_runs_of_one_topology_share_a_lab_reset_between_them(tmp_path: Path) -> None:
    said: list[str] = []
    warm, calls = _warm(tmp_path, [None, None], said)
    spec = load_spec("smoke")
    for seed in (1, 2, 3):
        warm.run(apply_overrides(spec, seed=seed), tmp_path)
    assert [c["start"] for c in calls] == [FRESH, RESET, RESET]
    assert [c["reuse"] for c in calls] == [False, True, True] and all(c["keep"] for c in calls)
    assert len({c["lab"] for c in calls}) == 1
    warm.close()
    assert not FakeCluster.running  # close takes the warm lab down


def test_a_failed_reset_is_said_and_the_run_gets_a_fresh_lab(tmp_path: Path) -> None:
    said: list[str] = []
    warm, calls = _warm(tmp_path, [LabError("broker did not answer")], said)
    spec = load_spec("smoke")
    warm.run(spec, tmp_path)
    warm.run(spec, tmp_path)
    assert [c["start"] for c in calls] == [FRESH, FRESH] and calls[1]["reuse"] is False
    assert any("reset of" in line and "broker did not answer" in line and "fresh lab" in line for line in said)


def test_another_topology_takes_the_previous_warm_lab_down(tmp_path: Path) -> None:
    said: list[str] = []
    warm, calls = _warm(tmp_path, [], said)
    small = load_spec("smoke")
    big = dataclasses.replace(small, cluster={**small.cluster, "executors": 3})
    warm.run(small, tmp_path)
    warm.run(big, tmp_path)
    assert calls[0]["lab"] != calls[1]["lab"]
    assert FakeCluster.running == {calls[1]["lab"]}


def test_fresh_keeps_the_old_behaviour(tmp_path: Path) -> None:
    said: list[str] = []
    warm, calls = _warm(tmp_path, [], said, fresh=True)
    warm.run(load_spec("smoke"), tmp_path, lab_name="mine")
    assert calls == [{"lab": "mine", "keep": False, "reuse": False, "start": FRESH}]
