"""The swarm backend's pure decisions: hosts file, host checks, placement, image copies, the stack file."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster.backends.swarm.plan import (HostFacts, SwarmNode, check_hosts, content_name, normalise_arch,
                                         parse_hosts, phase_document, placement, plan_image_copies, stack_document,
                                         task_state)
from cluster.errors import LabError
from cluster.images import Images
from cluster.paths import COMPOSE_DIR
from cluster.render import write_cluster_files, load_or_make_secrets
from cluster.topology import Topology

IMAGES = Images("mistral-lab/mistral:abc", "mistral-lab/infra:def")


# ------------------------------------------------------------------ hosts file
def test_hosts_file_lines_comments_and_options() -> None:
    text = """
    # the lab's swarm
    ssh://lab@10.0.0.2            # a worker
    tcp://node3.example:2376  address=192.168.1.3 roles=engine,executor
    """
    entries = parse_hosts(text, "hosts")
    assert [(e.docker_host, e.address, e.line) for e in entries] == [
        ("ssh://lab@10.0.0.2", "10.0.0.2", 3), ("tcp://node3.example:2376", "192.168.1.3", 4)]
    assert entries[1].labels == ("engine", "executor")


@pytest.mark.parametrize("text, fragment", [
    ("", "names no host"),
    ("10.0.0.2\n", "hosts:1: '10.0.0.2' is not a DOCKER_HOST"),
    ("unix:///var/run/docker.sock\n", "is not a DOCKER_HOST"),
    ("ssh://a@h\nssh://a@h\n", "hosts:2: ssh://a@h is already on line 1"),
    ("ssh://a@h colour=red\n", "unknown option 'colour'"),
    ("ssh://a@h address\n", "malformed 'address'"),
])
def test_hosts_file_errors_name_file_and_line(text: str, fragment: str) -> None:
    with pytest.raises(LabError, match=fragment):
        parse_hosts(text, "hosts")


# ------------------------------------------------------------------ host checks
MANAGER = HostFacts("local", node_id="m", swarm_state="active", cluster_id="C1", arch="x86_64")


def _fact(**kw) -> HostFacts:
    base = dict(docker_host="ssh://h2", node_id="w", swarm_state="active", cluster_id="C1", arch="x86_64")
    return HostFacts(**{**base, **kw})


def test_good_hosts_pass() -> None:
    check_hosts([_fact(), _fact(docker_host="ssh://h3", node_id="w3", arch="amd64")], MANAGER, "amd64")


@pytest.mark.parametrize("fact, fragment", [
    (_fact(error="ConnectionError: refused"), "host ssh://h2 is unreachable: ConnectionError: refused"),
    (_fact(swarm_state="inactive", node_id=""), "host ssh://h2 is not a swarm member"),
    (_fact(cluster_id="C2"), "is in another swarm"),
    (_fact(arch="aarch64"), "host ssh://h2 runs arm64; the lab's images are amd64"),
])
def test_bad_hosts_are_one_clear_line(fact: HostFacts, fragment: str) -> None:
    with pytest.raises(LabError) as caught:
        check_hosts([fact], MANAGER, "x86_64")
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_unreachable_is_reported_before_membership_of_others() -> None:
    with pytest.raises(LabError, match="unreachable"):
        check_hosts([_fact(swarm_state="inactive"), _fact(docker_host="ssh://h9", error="timeout")], MANAGER, "amd64")


def test_arch_names_are_normalised() -> None:
    assert normalise_arch("x86_64") == normalise_arch("amd64") == "amd64"
    assert normalise_arch("aarch64") == "arm64"


# ------------------------------------------------------------------ placement
NODES = [SwarmNode("m", "alpha", True), SwarmNode("w1", "beta", False), SwarmNode("w2", "gamma", False)]
TOPO = Topology(name="s", apis=2, engines=2, executors=3, backend="swarm")


def test_spread_pins_engines_and_executors_round_robin_workers_first() -> None:
    plan = placement(TOPO, NODES, "m", "spread")
    for infra in ("db", "broker", "witness", "db-init", "api-1", "api-2"):
        assert plan[infra] == ["node.id == m"]
    assert plan["engine-1"] == ["node.id == w1"] and plan["engine-2"] == ["node.id == w2"]
    assert [plan[f"executor-{i}"][0] for i in (1, 2, 3)] == ["node.id == w1", "node.id == w2", "node.id == m"]


def test_spread_on_a_single_node_swarm_puts_everything_there() -> None:
    plan = placement(TOPO, [SwarmNode("m", "alpha", True)], "m", "spread")
    assert {c for constraints in plan.values() for c in constraints} == {"node.id == m"}


def test_spread_skips_drained_or_down_nodes() -> None:
    nodes = [NODES[0], SwarmNode("w1", "beta", False, ready=False), NODES[2]]
    plan = placement(TOPO, nodes, "m", "spread")
    assert plan["engine-1"] == ["node.id == w2"] and plan["engine-2"] == ["node.id == m"]


def test_pack_keeps_everything_on_the_manager() -> None:
    plan = placement(TOPO, NODES, "m", "pack")
    assert all(constraints == ["node.id == m"] for constraints in plan.values())


def test_labels_need_a_labelled_node() -> None:
    labelled = [NODES[0], SwarmNode("w1", "beta", False, labels={"mistral-lab.engine": "true",
                                                                   "mistral-lab.executor": "true"})]
    plan = placement(TOPO, labelled, "m", "labels")
    assert plan["executor-3"] == ["node.labels.mistral-lab.executor == true"]
    with pytest.raises(LabError, match=r"no ready swarm node has the label mistral-lab\.engine=true"):
        placement(TOPO, NODES, "m", "labels")


def test_the_manager_must_be_usable() -> None:
    with pytest.raises(LabError, match="must run the lab's database"):
        placement(TOPO, [SwarmNode("m", "alpha", True, ready=False)], "m", "spread")


# ------------------------------------------------------------------ image distribution
def test_only_missing_or_different_images_are_copied() -> None:
    wanted = {"mistral:abc": "sha256:1", "infra:def": "sha256:2"}
    present = {"h1": {"mistral:abc": "sha256:1", "infra:def": "sha256:2"},   # up to date: nothing
               "h2": {"mistral:abc": None, "infra:def": "sha256:2"},         # missing one
               "h3": {"mistral:abc": "sha256:old", "infra:def": None}}       # stale tag and missing
    assert plan_image_copies(wanted, present) == {"h2": ["mistral:abc"], "h3": ["infra:def", "mistral:abc"]}
    assert plan_image_copies(wanted, {"h1": present["h1"]}) == {}


# ------------------------------------------------------------------ the stack file
def _stack(tmp_path: Path, topology: Topology = TOPO) -> dict:
    write_cluster_files(tmp_path, topology, IMAGES)
    constraints = placement(topology, NODES, "m", "spread")
    return stack_document(topology, IMAGES, load_or_make_secrets(tmp_path), tmp_path, constraints,
                          COMPOSE_DIR / "witness")


def test_stack_has_one_service_per_node_and_keeps_identity(tmp_path: Path) -> None:
    doc = _stack(tmp_path)
    assert doc["version"] == "3.8"
    assert set(doc["services"]) == {"db", "broker", "witness", "db-init", "api-1", "api-2", "engine-1", "engine-2",
                                    "executor-1", "executor-2", "executor-3"}
    for name, service in doc["services"].items():
        assert service["hostname"] == name
        assert not {"container_name", "depends_on", "restart", "init"} & set(service)
        deploy = service["deploy"]
        assert deploy["replicas"] == 1 and deploy["endpoint_mode"] == "dnsrr"
        assert deploy["restart_policy"]["condition"] == ("on-failure" if name == "db-init" else "none")
        assert deploy["labels"]["mistral-lab.node"] == name
    assert doc["services"]["executor-2"]["environment"]["MISTRAL_NODE"] == "executor-2"
    assert doc["services"]["engine-2"]["deploy"]["placement"]["constraints"] == ["node.id == w2"]
    assert doc["networks"]["default"] == {"driver": "overlay", "attachable": True}


def test_stack_uses_configs_not_bind_mounts_and_host_ports(tmp_path: Path) -> None:
    doc = _stack(tmp_path)
    api = doc["services"]["api-1"]
    assert "volumes" not in api
    assert api["configs"] == [{"source": "mistral_conf", "target": "/etc/mistral/mistral.conf", "mode": 0o444}]
    assert api["ports"] == [{"target": 8989, "protocol": "tcp", "mode": "host"}]
    assert "ports" not in doc["services"]["engine-1"]
    assert doc["services"]["db"]["volumes"] == ["dbdata:/var/lib/mysql"]
    assert doc["services"]["witness"]["volumes"] == ["witness:/witness"]
    # both scripts of compose/witness: the server, and the AMQP consumer count the ready poll runs in it
    assert [c["target"] for c in doc["services"]["witness"]["configs"]] == [
        "/opt/witness/witness_server.py", "/opt/witness/queue_consumers.py"]
    assert doc["services"]["broker"]["configs"][0]["target"] == "/etc/rabbitmq/rabbitmq.conf"
    names = {config["name"] for config in doc["configs"].values()}
    assert all(name.startswith("s_") for name in names)
    # a config cannot be changed in place: its name follows its content
    assert content_name("s", "x", b"a") != content_name("s", "x", b"b")


def test_phases_restrict_services_and_keep_the_rest(tmp_path: Path) -> None:
    doc = _stack(tmp_path)
    infra = phase_document(doc, ["db", "broker", "witness"])
    assert set(infra["services"]) == {"db", "broker", "witness"}
    assert infra["configs"] == doc["configs"] and infra["networks"] == doc["networks"]


@pytest.mark.parametrize("task, container, expected", [
    ("running", "paused", "paused"),
    ("running", None, "running"),
    ("preparing", None, "created"),
    ("failed", "exited", "exited"),
    ("complete", None, "exited"),
    ("shutdown", None, "exited"),
])
def test_node_state_from_task_and_container(task: str, container: str | None, expected: str) -> None:
    assert task_state(task, container) == expected


def test_topology_checks_backend_options(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="unknown backend 'k8s'"):
        Topology(name="x", backend="k8s").validate()
    with pytest.raises(LabError, match="need --backend swarm"):
        Topology(name="x", placement="pack").validate()
    with pytest.raises(LabError, match="no such file"):
        Topology(name="x", backend="swarm", hosts=str(tmp_path / "missing")).validate()
    Topology(name="x", backend="swarm", placement="pack").validate()


def test_workers_get_only_the_images_of_what_can_run_on_them() -> None:
    from cluster.backends.swarm.plan import images_by_host

    document = {"services": {
        "db": {"image": "infra", "deploy": {"placement": {"constraints": ["node.id == m"]}}},
        "engine-1": {"image": "mistral", "deploy": {"placement": {"constraints": ["node.id == w2"]}}},
        "executor-1": {"image": "mistral", "deploy": {"placement": {"constraints": ["node.id==w3"]}}},
        "executor-2": {"image": "mistral-labels", "deploy": {"placement": {
            "constraints": ["node.labels.mistral-lab.executor == true"]}}},
    }}
    assert images_by_host(document, ["w2", "w3", "w4"]) == {
        "w2": {"mistral", "mistral-labels"}, "w3": {"mistral", "mistral-labels"}, "w4": {"mistral-labels"}}


def test_hosts_file_engine_commands_are_shell_quoted_and_go_together() -> None:
    from cluster.backends.swarm.plan import parse_hosts

    entry = parse_hosts('ssh://lab@h2 engine-stop="ssh lab@h2 sudo systemctl stop docker" '
                        "engine-start='ssh lab@h2 sudo systemctl start docker'\n")[0]
    assert (entry.engine_stop, entry.engine_start) == ("ssh lab@h2 sudo systemctl stop docker",
                                                       "ssh lab@h2 sudo systemctl start docker")
    assert parse_hosts("tcp://h3:2375\n")[0].engine_stop == ""
    with pytest.raises(LabError, match="hosts:1: engine-stop and engine-start go together"):
        parse_hosts('tcp://h3:2375 engine-stop="true"\n', "hosts")
