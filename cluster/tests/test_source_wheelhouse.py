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


def test_an_sdist_tree_builds_with_every_file_a_patch_added(tmp_path: Path) -> None:
    """An sdist's wheel follows its SOURCES.txt: a module a patch adds must be listed, or the image lacks it."""
    tree = _tree(tmp_path / "mistral-23.0.0")
    (tree / "mistral.egg-info").mkdir()
    (tree / "mistral.egg-info" / "SOURCES.txt").write_text("setup.py\nmistral/executors/executor_server.py\n")
    (tree / "mistral" / "executors" / "claim.py").write_text("")  # added by a patch
    (tree / "mistral" / "__pycache__").mkdir()
    (tree / "mistral" / "__pycache__" / "x.pyc").write_text("")
    (tree / "build" / "lib").mkdir(parents=True)
    copy = wheels.buildable_copy(tree, tmp_path / "scratch")
    assert copy.name == "mistral-23.0.0" and copy.parent == tmp_path / "scratch"
    assert (copy / "mistral.egg-info" / "SOURCES.txt").read_text().splitlines() == [
        "setup.py", "mistral/executors/executor_server.py", "mistral/executors/claim.py"]
    assert not (copy / "build").exists() and not (copy / "mistral" / "__pycache__").exists()
    assert (tree / "mistral.egg-info" / "SOURCES.txt").read_text().count("\n") == 2  # the user's tree untouched
