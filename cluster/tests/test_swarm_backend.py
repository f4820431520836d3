"""The swarm backend against a fake engine: bad --hosts input is one line before anything is created, and the
swarm the lab creates is left (with its docker_gwbridge) only by the last lab that uses it."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cluster.backends.swarm import backend as swarm
from cluster.backends.swarm import deploy, owner, state
from cluster.backends.swarm.plan import HostFacts
from cluster.errors import LabError
from cluster.topology import Topology


class FakeNetworks:
    def __init__(self, names: set[str]):
        self.names = names

    def list(self, names=None, filters=None):
        wanted = [n for n in self.names if names is None or n in names]
        return [SimpleNamespace(name=n, remove=lambda n=n: self.names.discard(n)) for n in wanted]


class FakeEngine:
    def __init__(self, state: str = "inactive", manager: bool = True, arch: str = "x86_64"):
        self.swarm_state = {"LocalNodeState": state, "ControlAvailable": manager and state == "active",
                            "NodeID": "m" if state == "active" else "", "Cluster": {"ID": "C1"}}
        self.arch = arch
        self.networks = FakeNetworks({"bridge", "host", "none"})
        self.calls: list[str] = []
        self.running_services: list[str] = []
        engine = self

        class _Swarm:
            def init(self, **kwargs):
                engine.calls.append(f"init {kwargs.get('advertise_addr')}")
                engine.swarm_state.update(LocalNodeState="active", ControlAvailable=True, NodeID="m")
                engine.networks.names |= {"docker_gwbridge", "ingress"}

            def leave(self, force=False):
                engine.calls.append("leave")
                engine.swarm_state.update(LocalNodeState="inactive", ControlAvailable=False, NodeID="")
                engine.networks.names.discard("ingress")  # docker_gwbridge stays behind, as with the real engine

        self.swarm = _Swarm()
        self.services = SimpleNamespace(list=lambda filters=None: list(engine.running_services))

    def info(self):
        return {"Swarm": dict(self.swarm_state), "Architecture": self.arch}


@pytest.fixture
def fake(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MISTRAL_LAB_STATE", str(tmp_path / "state"))
    engine = FakeEngine()
    for module in (owner, state, deploy):
        monkeypatch.setattr(module, "engine", lambda: engine)
    return engine


def _hosts_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hosts"
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------ input checks
def test_hosts_need_this_engine_to_be_a_manager(fake, tmp_path: Path) -> None:
    backend = swarm.SwarmBackend("s", tmp_path / "lab")
    topology = Topology(name="s", backend="swarm", hosts=_hosts_file(tmp_path, "ssh://lab@h2\n"))
    with pytest.raises(LabError, match="--hosts needs this engine to manage the swarm"):
        backend.check(topology)
    assert fake.calls == []  # nothing was created


def test_a_worker_engine_is_refused(fake, tmp_path: Path) -> None:
    fake.swarm_state.update(LocalNodeState="active", ControlAvailable=False)
    with pytest.raises(LabError, match="swarm worker"):
        swarm.SwarmBackend("s", tmp_path / "lab").check(Topology(name="s", backend="swarm"))


def test_unreachable_host_is_one_line(fake, tmp_path: Path) -> None:
    fake.swarm_state.update(LocalNodeState="active", ControlAvailable=True, NodeID="m")
    topology = Topology(name="s", backend="swarm", hosts=_hosts_file(tmp_path, "tcp://127.0.0.1:9\n"))
    with pytest.raises(LabError) as caught:
        swarm.SwarmBackend("s", tmp_path / "lab").check(topology)
    assert str(caught.value).startswith("host tcp://127.0.0.1:9 is unreachable: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("facts, fragment", [
    (HostFacts("ssh://h2", swarm_state="inactive"), "not a swarm member"),
    (HostFacts("ssh://h2", node_id="w", swarm_state="active", cluster_id="C1", arch="aarch64"), "runs arm64"),
])
def test_non_member_and_wrong_architecture(fake, tmp_path: Path, monkeypatch, facts, fragment) -> None:
    fake.swarm_state.update(LocalNodeState="active", ControlAvailable=True, NodeID="m")
    monkeypatch.setattr(deploy, "host_facts", lambda entry: facts)
    topology = Topology(name="s", backend="swarm", hosts=_hosts_file(tmp_path, "ssh://h2\n"))
    with pytest.raises(LabError, match=fragment):
        swarm.SwarmBackend("s", tmp_path / "lab").check(topology)


def test_good_hosts_are_remembered_with_their_node_ids(fake, tmp_path: Path, monkeypatch) -> None:
    fake.swarm_state.update(LocalNodeState="active", ControlAvailable=True, NodeID="m")
    monkeypatch.setattr(deploy, "host_facts", lambda entry: HostFacts(entry.docker_host, node_id="w2",
                                                                      swarm_state="active", cluster_id="C1",
                                                                      arch="amd64"))
    backend = swarm.SwarmBackend("s", tmp_path / "lab")
    backend.check(Topology(name="s", backend="swarm",
                           hosts=_hosts_file(tmp_path, "ssh://lab@h2 address=10.1.1.2\n")))
    assert backend._hosts() == [{"docker_host": "ssh://lab@h2", "address": "10.1.1.2", "line": 1, "labels": [],
                                 "engine_stop": "", "engine_start": "", "node_id": "w2"}]


# ------------------------------------------------------------------ the swarm's lifecycle
def test_the_lab_creates_a_swarm_and_the_last_lab_leaves_it_as_found(fake) -> None:
    before = set(fake.networks.names)
    owner.acquire_swarm("a")
    owner.acquire_swarm("b")
    assert fake.calls == ["init 127.0.0.1"]
    owner.release_swarm("a")
    assert fake.swarm_state["LocalNodeState"] == "active"  # b still uses it
    owner.release_swarm("b")
    assert fake.calls == ["init 127.0.0.1", "leave"]
    assert fake.networks.names == before  # docker_gwbridge removed too
    owner.release_swarm("b")  # idempotent
    assert fake.calls == ["init 127.0.0.1", "leave"]


def test_a_swarm_the_lab_did_not_create_is_never_left(fake) -> None:
    fake.swarm_state.update(LocalNodeState="active", ControlAvailable=True, NodeID="m")
    fake.networks.names |= {"docker_gwbridge", "ingress"}
    owner.acquire_swarm("a")
    owner.release_swarm("a")
    assert fake.calls == [] and "docker_gwbridge" in fake.networks.names


def test_a_lab_swarm_with_foreign_services_is_kept(fake) -> None:
    owner.acquire_swarm("a")
    fake.running_services = ["someone-elses-service"]
    owner.release_swarm("a")
    assert fake.calls == ["init 127.0.0.1"]


def test_task_order_uses_full_creation_time() -> None:
    tasks = [{"CreatedAt": "2026-01-01T10:00:00.9Z", "id": "a"}, {"CreatedAt": "2026-01-01T10:00:00.123456789Z",
                                                                    "id": "b"}]
    assert max(tasks, key=state.created_key)["id"] == "a"


# ------------------------------------------------------------------ start: a forced update, then its new task
class FakeService:
    def __init__(self, appears_after: int | None):
        self.tasks_list = [{"ID": "old", "CreatedAt": "2026-12-04T10:00:00.1Z", "Status": {"State": "shutdown"}}]
        self.appears_after, self.polls, self.updates = appears_after, 0, 0

    def force_update(self):
        self.updates += 1

    def tasks(self):
        self.polls += 1
        if self.updates and self.appears_after is not None and self.polls > self.appears_after:
            return [*self.tasks_list, {"ID": "new", "CreatedAt": "2026-12-04T10:05:00.2Z",
                                       "Status": {"State": "assigned"}}]
        return self.tasks_list


def _backend_with(service: FakeService, monkeypatch, tmp_path: Path) -> swarm.SwarmBackend:
    backend = swarm.SwarmBackend("s", tmp_path / "lab")
    monkeypatch.setattr(backend, "_service", lambda name: service)
    monkeypatch.setattr(backend, "_task_container", lambda task: (None, "n1"))
    monkeypatch.setattr(swarm.time, "sleep", lambda _: None)
    return backend


def test_start_returns_once_swarm_made_the_new_task(monkeypatch, tmp_path: Path) -> None:
    # Until the new task shows, the node still reads as its old exited task: callers would call that a failure.
    service = FakeService(appears_after=3)
    _backend_with(service, monkeypatch, tmp_path).start("executor-1")
    assert service.updates == 1 and service.polls > 3


def test_start_without_a_new_task_is_one_line(monkeypatch, tmp_path: Path) -> None:
    clock = iter(range(0, 10_000, 5))
    monkeypatch.setattr(swarm.time, "monotonic", lambda: next(clock))
    with pytest.raises(LabError, match="executor-1: swarm made no new task within 60 s"):
        _backend_with(FakeService(appears_after=None), monkeypatch, tmp_path).start("executor-1")


# ------------------------------------------------------------------ a scale-up deploys only the new nodes
def test_scale_up_deploys_only_the_added_services(monkeypatch, tmp_path: Path) -> None:
    import yaml

    backend = swarm.SwarmBackend("s", tmp_path / "lab")
    backend.state_dir.mkdir(parents=True)
    services = {name: {"image": "m"} for name in ("db", "api-1", "executor-1", "executor-2", "executor-3")}
    backend.stack_file.write_text(yaml.safe_dump({"version": "3.8", "services": services, "configs": {"c": {}}}))
    deployed = []
    monkeypatch.setattr(backend, "_stack_deploy", deployed.append)
    backend.deploy(lambda _: None, services=["executor-3"])
    # a running service in the file would get a service update, which may restart its task
    assert [list(d["services"]) for d in deployed] == [["executor-3"]]
    assert deployed[0]["configs"] == {"c": {}}
