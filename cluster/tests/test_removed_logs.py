"""A scale-down removes containers, and their logs with them: the cluster keeps each removed node's log until a
run moves it into its own logs/removed/, so how a node stopped stays evidence; a reset drops them."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cluster import removed_logs
from cluster.control import Cluster


@pytest.fixture()
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("MISTRAL_LAB_STATE", str(tmp_path / "state"))
    lab = Cluster("rl-test")
    lab.state_dir.mkdir(parents=True, exist_ok=True)
    said = {"engine-2": "engine-2 stopping: finished 3 requests\n"}

    def logs(node: str, tail="all") -> str:
        if node not in said:
            raise RuntimeError(f"no such container {node}")
        return said[node]

    monkeypatch.setattr(lab, "logs", logs)
    return lab


def test_removed_nodes_logs_are_kept_in_order_until_taken(cluster: Cluster) -> None:
    removed_logs.keep(cluster, ["engine-2"])
    removed_logs.keep(cluster, ["engine-2", "engine-3"])  # removed again after a restore; one already gone
    kept = removed_logs.take(cluster.state_dir)
    assert [p.name.rsplit("-", 1)[0] for p in kept] == ["engine-2", "engine-2", "engine-3"]
    assert kept[0].read_text() == "engine-2 stopping: finished 3 requests\n"
    assert kept[2].read_text().startswith("(log unavailable: no such container engine-3")
    assert int(kept[0].stem.rsplit("-", 1)[1]) < int(kept[1].stem.rsplit("-", 1)[1])


def test_a_run_moves_the_kept_logs_into_its_own_logs_removed(cluster: Cluster, tmp_path: Path) -> None:
    from lab.run import _collect_logs

    removed_logs.keep(cluster, ["engine-2"])
    fake = SimpleNamespace(nodes=lambda include_jobs=False: [SimpleNamespace(name="engine-2")],
                           logs=cluster.logs, state_dir=cluster.state_dir)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _collect_logs(fake, run_dir)
    moved = list((run_dir / "logs" / "removed").glob("engine-2-*.log"))
    assert len(moved) == 1 and moved[0].read_text().startswith("engine-2 stopping")
    assert (run_dir / "logs" / "engine-2.log").exists()
    assert removed_logs.take(cluster.state_dir) == []  # taken: the next run does not get them again
