"""The backend seam's shared per-container operations and backend selection, with fake containers."""
from __future__ import annotations

import json
from pathlib import Path

import docker.errors
import pytest

from cluster.backends.base import ContainerOps
from cluster.backends import make_backend
from cluster.errors import LabError


class FlakyContainer:
    def __init__(self, failures: int, message: str = "OCI runtime pause failed: unable to freeze: unknown"):
        self.failures, self.message, self.status, self.calls = failures, message, "running", 0

    def reload(self) -> None:
        pass

    def pause(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise docker.errors.APIError(f"500 Server Error: {self.message}")
        self.status = "paused"


class Ops(ContainerOps):
    def __init__(self, container):
        self._container = container

    def container(self, node):
        return self._container


def test_pause_retries_a_freezer_that_gave_up(monkeypatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    container = FlakyContainer(failures=2)
    Ops(container).pause("api-1")
    assert container.status == "paused" and container.calls == 3


def test_pause_raises_other_errors_and_persistent_freezer_failures(monkeypatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    with pytest.raises(docker.errors.APIError):
        Ops(FlakyContainer(failures=1, message="No such container")).pause("api-1")
    with pytest.raises(docker.errors.APIError):
        Ops(FlakyContainer(failures=5)).pause("api-1")


def test_backend_is_read_from_the_saved_topology(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MISTRAL_LAB_STATE", str(tmp_path))
    from cluster.control import Cluster

    assert Cluster("old").backend_kind == "compose"  # no state: compose
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "topology.json").write_text(json.dumps({"name": "s1", "backend": "swarm"}))
    assert Cluster("s1").backend_kind == "swarm"
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "topology.json").write_text(json.dumps({"name": "c1"}))  # written before backends existed
    assert Cluster("c1").backend_kind == "compose"
    with pytest.raises(LabError, match="unknown backend 'k8s'"):
        make_backend("k8s", "x", tmp_path)
