"""What the faults would do, rendered without a cluster: partitions, iptables rules, qdiscs (message-loss's
queue patterns: test_message_loss.py)."""
from __future__ import annotations

import random

import pytest

from nemesis import netem, netfilter
from nemesis.partition import bridge_links, cuts_by_node, halves_links, isolate_links, ring_links

NODES = ["api-1", "api-2", "engine-1", "engine-2", "executor-1", "executor-2", "broker", "db"]


def test_isolate_cuts_exactly_the_links_between_the_sides() -> None:
    links = isolate_links(["engine-1", "engine-2"], ["broker"])
    assert links == {frozenset(("engine-1", "broker")), frozenset(("engine-2", "broker"))}
    assert cuts_by_node(links) == {"broker": ["engine-1", "engine-2"], "engine-1": ["broker"],
                                   "engine-2": ["broker"]}


def test_halves_are_complete_and_seeded() -> None:
    links = halves_links(NODES, random.Random(9))
    cuts = cuts_by_node(links)
    assert len(links) == 16 and all(len(peers) == 4 for peers in cuts.values())
    assert links == halves_links(NODES, random.Random(9)) != halves_links(NODES, random.Random(10))


def test_bridge_node_sees_both_halves() -> None:
    links = bridge_links(NODES, random.Random(4))
    cuts = cuts_by_node(links)
    bridges = [n for n in NODES if n not in cuts]
    assert len(bridges) == 1 and len(links) == 3 * 4


@pytest.mark.parametrize("n", [4, 5, 7, 8, 9])
def test_majorities_ring_every_node_sees_a_majority_but_never_all(n: int) -> None:
    nodes = NODES[:n] if n <= len(NODES) else NODES + [f"api-{i}" for i in range(3, 3 + n - len(NODES))]
    links = ring_links(nodes, random.Random(n))
    cuts = cuts_by_node(links)
    majority = n // 2 + 1
    for node in nodes:
        assert n - len(cuts.get(node, [])) >= majority  # itself included
    assert all(cuts.get(node) for node in nodes)


def test_cut_rules_reset_tcp_both_ways_and_drop_the_rest() -> None:
    rules = netfilter.cut_rules(["10.0.0.5"])
    assert rules == ["-s 10.0.0.5 -p tcp -j REJECT --reject-with tcp-reset",
                     "-d 10.0.0.5 -p tcp -j REJECT --reject-with tcp-reset",
                     "-s 10.0.0.5 -j DROP", "-d 10.0.0.5 -j DROP"]
    assert netfilter.loss_rules(["10.0.0.5"], 0.25) == [
        "-s 10.0.0.5 -m statistic --mode random --probability 0.2500 -j DROP",
        "-d 10.0.0.5 -m statistic --mode random --probability 0.2500 -j DROP"]


def test_install_script_exempts_the_witness_first_and_uses_a_per_fault_chain() -> None:
    script = netfilter.install_script("abcd1234", "10.0.0.3", netfilter.cut_rules(["10.0.0.5"]), ["10.0.0.5"])
    lines = script.splitlines()
    witness = lines.index("  $ipt -A MISTRAL-LAB -s 10.0.0.3 -j RETURN")
    first_cut = next(i for i, line in enumerate(lines) if "REJECT" in line)
    assert witness < first_cut
    assert "$ipt -A MISTRAL-LAB -j MISTRAL-LAB-abcd1234" in lines
    assert "conntrack -D -d 10.0.0.5 >/dev/null 2>&1 || true" in lines
    assert len(netfilter.fault_chain("0123456789abcdef0123")) <= 28
    assert "MISTRAL-LAB-abcd1234" in netfilter.remove_script("abcd1234")
    assert "MISTRAL-LAB" in netfilter.clear_all_script() and "iptables-legacy" in netfilter.clear_all_script()


def test_shaping_puts_the_leaf_under_htb_with_the_witness_unshaped() -> None:
    script = netem.shaping_script(netem.tbf_leaf("1mbit", "32kbit", 400), "10.0.0.3")
    assert "root handle 4c4b: htb default 2" in script
    assert "u32 match ip dst 10.0.0.3/32 flowid 4c4b:1" in script
    assert "parent 4c4b:2 handle 4c4c: tbf rate 1mbit burst 32kbit latency 400ms" in script
    assert netem.netem_leaf(100, 10, 1.5, 0) == "netem delay 100ms 10ms duplicate 1.5%"
    assert "4c4b: root" in netem.clear_qdisc_script()

