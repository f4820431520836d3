"""Node-level fault decisions of the swarm backend: which host, which peers, which rules, what is kept."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from cluster.backends.swarm.hosts import (HostRef, chain_name, choose_host, control_port, cut_script, peers_of,
                                          restore_script)
from cluster.errors import LabError

MANAGER = HostRef("m1", "lab", "10.0.0.1", True, "")
WORKER = HostRef("w2", "h2", "10.0.0.2", False, "tcp://10.0.0.2:2376")
OTHER = HostRef("w3", "h3", "10.0.0.3", False, "ssh://lab@10.0.0.3")
HOSTS = [MANAGER, WORKER, OTHER]


def test_the_host_of_a_node_is_its_tasks_swarm_node() -> None:
    assert choose_host(HOSTS, "w3", "executor-2", "host-drain") is OTHER


def test_the_manager_is_never_a_target() -> None:
    with pytest.raises(LabError, match="host-partition: engine-1 runs on the manager lab .10.0.0.1.*worker host"):
        choose_host(HOSTS, "m1", "engine-1", "host-partition")


def test_an_unscheduled_node_is_one_line() -> None:
    with pytest.raises(LabError, match="executor-9 runs on no swarm node the lab knows"):
        choose_host(HOSTS, "", "executor-9", "host-drain")


def test_peers_are_every_other_swarm_address() -> None:
    assert peers_of(HOSTS, WORKER) == ["10.0.0.1", "10.0.0.3"]
    assert peers_of([WORKER], WORKER) == []


@pytest.mark.parametrize("docker_host, port", [("tcp://10.0.0.2:2376", 2376), ("tcp://h", 2375),
                                               ("ssh://lab@10.0.0.3", 22), ("ssh://lab@h:2222", 2222)])
def test_the_lab_keeps_its_control_port(docker_host: str, port: int) -> None:
    assert control_port(docker_host) == port


def test_cut_drops_each_peer_both_ways_after_keeping_the_control_port() -> None:
    script = cut_script("mlab-x", ["10.0.0.1", "10.0.0.3"], 2376).splitlines()
    keep = script.index("iptables -A mlab-x -p tcp --dport 2376 -j RETURN")
    drops = [i for i, line in enumerate(script) if line.endswith("-j DROP")]
    assert len(drops) == 4 and keep < min(drops)
    assert "iptables -A mlab-x -s 10.0.0.3 -j DROP" in script and "iptables -A mlab-x -d 10.0.0.1 -j DROP" in script
    assert [line for line in script if "-I INPUT" in line or "-I OUTPUT" in line] == [
        "iptables -C INPUT -j mlab-x 2>/dev/null || iptables -I INPUT -j mlab-x",
        "iptables -C OUTPUT -j mlab-x 2>/dev/null || iptables -I OUTPUT -j mlab-x"]


def test_a_host_with_no_peer_cannot_be_cut() -> None:
    with pytest.raises(LabError, match="no other swarm node"):
        cut_script("mlab-x", [], 2375)


def test_chain_names_fit_iptables_and_differ_per_lab() -> None:
    assert len(chain_name("a" * 200)) <= 28
    assert chain_name("lab1") != chain_name("lab2") and chain_name("lab1") == chain_name("lab1")


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_restore_is_a_no_op_where_nothing_was_cut(tmp_path) -> None:
    # iptables replaced by a stub that always fails, as on a host without the chain: the script still ends 0.
    stub = tmp_path / "iptables"
    stub.write_text("#!/bin/sh\nexit 1\n")
    stub.chmod(0o755)
    result = subprocess.run(["sh", "-c", restore_script("mlab-x")], capture_output=True, text=True,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout.strip() == "removed=0"
