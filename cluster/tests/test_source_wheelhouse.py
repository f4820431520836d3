"""--mistral-src wheelhouses are keyed by the tree's contents (build leftovers aside) and built reproducibly, so an
unchanged tree reuses its wheels and its image instead of rebuilding both for every try."""
from __future__ import annotations

import os
from pathlib import Path

from cluster import wheels
from cluster.wheels import pbr_env, prune_source_wheelhouses, source_digest


def _tree(root: Path) -> Path:
    (root / "mistral" / "executors").mkdir(parents=True)
    (root / "setup.py").write_text("import setuptools\n")
    (root / "mistral" / "executors" / "executor_server.py").write_text("def stop(): pass\n")
    return root


def test_the_digest_follows_the_sources_not_the_build_leftovers(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "a")
    first = source_digest(tree)
    for leftover in ("build/lib/mistral/x.py", "mistral.egg-info/SOURCES.txt", "mistral/__pycache__/x.pyc",
                     ".git/HEAD-not-a-repo"):
        (tree / leftover).parent.mkdir(parents=True, exist_ok=True)
        (tree / leftover).write_text("anything")
    assert source_digest(tree) == first
    assert source_digest(_tree(tmp_path / "b")) == first  # the same contents elsewhere: the same wheels
    (tree / "mistral" / "executors" / "executor_server.py").write_text("def stop(): wait()\n")
    assert source_digest(tree) != first
    (tree / "mistral" / "executors" / "executor_server.py").write_text("def stop(): pass\n")
    (tree / "mistral" / "executors" / "new.py").write_text("")
    assert source_digest(tree) != first


def test_a_source_build_gets_fixed_timestamps_and_a_version(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("PBR_VERSION", raising=False)
    env = pbr_env(tmp_path)
    assert env["SOURCE_DATE_EPOCH"] == "315532800" and env["PBR_VERSION"] == "0.0.0.dev0"
    assert "SOURCE_DATE_EPOCH" not in pbr_env(None)


def test_old_source_wheelhouses_are_pruned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(wheels, "SOURCE_WHEELHOUSES_KEPT", 2)
    houses = [tmp_path / f"src-{i}" for i in range(5)]
    for age, house in enumerate(houses):
        house.mkdir()
        os.utime(house, (1000 + age, 1000 + age))
    (tmp_path / "mistral-23.0.0").mkdir()
    prune_source_wheelhouses(keep=houses[0])  # the one in use stays, however old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mistral-23.0.0", "src-0", "src-3", "src-4"]
