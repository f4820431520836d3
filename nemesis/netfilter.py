"""iptables rules the lab adds inside node network namespaces, kept identifiable so heal can remove them all.

Layout per node: INPUT and OUTPUT jump to chain MISTRAL-LAB, whose preamble lets loopback, the witness and TCP
resets through, then jumps to one sub-chain per active fault (MISTRAL-LAB-<id>). Removing a fault removes its
sub-chain; heal removes every chain whose name starts with MISTRAL-LAB. TCP is refused with a reset (both ways:
a reset generated in OUTPUT is delivered locally, hence the RST exemption in the preamble), so established AMQP
and SQL connections break at their next packet instead of hanging.

Both iptables backends work in these containers; a node uses iptables-legacy when it answers (Docker's own
rules in the namespace are legacy), else iptables. Heal looks in every backend present.
"""
from __future__ import annotations

CHAIN = "MISTRAL-LAB"
BACKENDS = ("iptables-legacy", "iptables-nft", "iptables")
_PICK_BACKEND = ('if command -v iptables-legacy >/dev/null 2>&1 && iptables-legacy -w -L -n >/dev/null 2>&1; '
                 'then ipt="iptables-legacy -w"; else ipt="iptables -w"; fi')


def fault_chain(fault_id: str) -> str:
    """Per-fault chain name (iptables limits names to 28 characters)."""
    return f"{CHAIN}-{fault_id}"[:28]


def preamble_rules(witness_ip: str) -> list[str]:
    """Rules at the head of MISTRAL-LAB: what no fault may ever block."""
    return [
        "-i lo -j RETURN",
        "-o lo -j RETURN",
        f"-s {witness_ip} -j RETURN",
        f"-d {witness_ip} -j RETURN",
        "-p tcp --tcp-flags RST RST -j RETURN",
    ]


def cut_rules(peer_ips: list[str]) -> list[str]:
    """Refuse all traffic with these peers: TCP with a reset both ways, everything else dropped."""
    rules = []
    for ip in peer_ips:
        rules += [
            f"-s {ip} -p tcp -j REJECT --reject-with tcp-reset",
            f"-d {ip} -p tcp -j REJECT --reject-with tcp-reset",
            f"-s {ip} -j DROP",
            f"-d {ip} -j DROP",
        ]
    return rules


def loss_rules(peer_ips: list[str], probability: float) -> list[str]:
    """Drop each packet exchanged with these peers with the given probability (statistic match)."""
    rules = []
    for ip in peer_ips:
        for direction in ("-s", "-d"):
            rules.append(f"{direction} {ip} -m statistic --mode random --probability {probability:.4f} -j DROP")
    return rules


def install_script(fault_id: str, witness_ip: str, rules: list[str], flush_ips: list[str]) -> str:
    """Shell script: create the main chain if missing, add this fault's sub-chain, cut tracked connections."""
    sub = fault_chain(fault_id)
    lines = [
        "set -e",
        _PICK_BACKEND,
        f"if $ipt -N {CHAIN} 2>/dev/null; then",
        *[f"  $ipt -A {CHAIN} {rule}" for rule in preamble_rules(witness_ip)],
        "fi",
        f"$ipt -C INPUT -j {CHAIN} 2>/dev/null || $ipt -I INPUT 1 -j {CHAIN}",
        f"$ipt -C OUTPUT -j {CHAIN} 2>/dev/null || $ipt -I OUTPUT 1 -j {CHAIN}",
        f"$ipt -N {sub}",
        *[f"$ipt -A {sub} {rule}" for rule in rules],
        f"$ipt -A {CHAIN} -j {sub}",
    ]
    # Forget tracked flows with the peers (exit 1 means there were none).
    for ip in flush_ips:
        lines.append(f"conntrack -D -s {ip} >/dev/null 2>&1 || true")
        lines.append(f"conntrack -D -d {ip} >/dev/null 2>&1 || true")
    return "\n".join(lines) + "\n"


def remove_script(fault_id: str) -> str:
    """Remove one fault's sub-chain; drop the main chain too once no fault uses it. Idempotent."""
    sub = fault_chain(fault_id)
    return "\n".join([
        f"for b in {' '.join(BACKENDS)}; do",
        '  command -v "$b" >/dev/null 2>&1 || continue',
        '  ipt="$b -w"',
        f"  $ipt -S {sub} >/dev/null 2>&1 || continue",
        f"  while $ipt -D {CHAIN} -j {sub} 2>/dev/null; do :; done",
        f"  $ipt -F {sub} && $ipt -X {sub} && echo \"removed $b {sub}\"",
        f"  if ! $ipt -S {CHAIN} 2>/dev/null | grep -q -- '-j {CHAIN}-'; then",
        f"    while $ipt -D INPUT -j {CHAIN} 2>/dev/null; do :; done",
        f"    while $ipt -D OUTPUT -j {CHAIN} 2>/dev/null; do :; done",
        f"    $ipt -F {CHAIN} 2>/dev/null; $ipt -X {CHAIN} 2>/dev/null || true",
        "  fi",
        "done",
        "true",
    ]) + "\n"


def clear_all_script() -> str:
    """Remove every lab chain in every backend; prints one `iptables <backend> <chain>` line per chain removed."""
    return "\n".join([
        f"for b in {' '.join(BACKENDS)}; do",
        '  command -v "$b" >/dev/null 2>&1 || continue',
        '  ipt="$b -w"',
        f"  chains=$($ipt -S 2>/dev/null | sed -n 's/^-N \\({CHAIN}[^ ]*\\)$/\\1/p')",
        '  [ -n "$chains" ] || continue',
        f"  while $ipt -D INPUT -j {CHAIN} 2>/dev/null; do :; done",
        f"  while $ipt -D OUTPUT -j {CHAIN} 2>/dev/null; do :; done",
        '  for c in $chains; do $ipt -F "$c"; done',
        '  for c in $chains; do $ipt -X "$c" && echo "iptables $b $c"; done',
        "done",
        "true",
    ]) + "\n"


def list_chains_script() -> str:
    """Prints every lab chain present, as `chain <backend> <chain>`."""
    return "\n".join([
        f"for b in {' '.join(BACKENDS)}; do",
        '  command -v "$b" >/dev/null 2>&1 || continue',
        f"  $b -w -S 2>/dev/null | sed -n 's/^-N \\({CHAIN}[^ ]*\\)$/\\1/p' | sed \"s/^/chain $b /\"",
        "done",
        "true",
    ]) + "\n"
