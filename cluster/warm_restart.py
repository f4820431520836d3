"""A Mistral node's server restarted inside its running container, without paying its imports again.

The Mistral image starts `mistral-server-warm` (compose/mistral/warm_start.py), which imports Mistral once
and forks mistral-server from there. `stop_server` SIGKILLs that server's whole process group (what
`docker kill` does to it) and leaves the launcher holding; `start_server` forks a fresh one. A node whose
launcher cannot answer (still booting, MISTRAL_LAB_WARM_START=0, an image from before the launcher) takes the
cold way: the container is killed and started again, as `mistral-lab reset` always did.
"""
from __future__ import annotations

from typing import Any

PID_FILE = "/run/mistral-server-warm.pid"
HELD_FILE = "/run/mistral-server-warm.held"
# Exit 3: no launcher to ask; 4: it did not say "held" within 10 s (the caller goes the cold way).
HOLD_SCRIPT = (f"[ -s {PID_FILE} ] || exit 3; kill -USR1 \"$(cat {PID_FILE})\" || exit 3; "
               f"for _ in $(seq 200); do [ -f {HELD_FILE} ] && exit 0; sleep 0.05; done; exit 4")
RELEASE_SCRIPT = f"[ -f {HELD_FILE} ] && kill -USR2 \"$(cat {PID_FILE})\""
WARM, COLD = "warm", "cold"


def stop_server(cluster: Any, node: str) -> str:
    """Stop the node's Mistral server; WARM when its launcher holds, COLD when the container was killed."""
    code, _ = cluster.exec(node, ["sh", "-c", HOLD_SCRIPT])
    if code == 0:
        return WARM
    cluster.kill(node)
    return COLD


def start_server(cluster: Any, node: str, how: str) -> None:
    """Start the node's server again the way it was stopped (a launcher that lost its hold: the cold way)."""
    if how == WARM:
        code, _ = cluster.exec(node, ["sh", "-c", RELEASE_SCRIPT])
        if code == 0:
            return
        cluster.kill(node)
    cluster.start(node)
