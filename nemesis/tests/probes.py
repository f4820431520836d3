"""Small probes run inside nodes to observe a fault's effect (python3 is in every Mistral image)."""
from __future__ import annotations

import time

from cluster.control import Cluster

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("ok")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
except OSError as exc:
    print("error", exc)
"""

SINK = """
import socket, sys
want = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9999)); s.listen(1)
c, _ = s.accept(); got = 0
while got < want:
    chunk = c.recv(65536)
    if not chunk: break
    got += len(chunk)
c.sendall(b"k"); c.close()
"""

SEND = """
import socket, sys, time
t = time.monotonic()
c = socket.create_connection((sys.argv[1], 9999), timeout=60)
c.sendall(b"x" * int(sys.argv[2])); c.recv(1)
print(round(time.monotonic() - t, 2))
"""


def connect(cluster: Cluster, node: str, host: str, port: int, timeout: float = 2.0) -> str:
    """ok, refused (reset by a tcp-reset rule), timeout (dropped) or error: a TCP connect from inside a node."""
    code, out = cluster.exec(node, ["python3", "-c", CONNECT, host, str(port), str(timeout)])
    return out.strip() if code == 0 else f"exit {code}: {out.strip()}"


def transfer_seconds(cluster: Cluster, sender: str, receiver: str, size: int) -> float:
    """Seconds to send `size` bytes from sender to receiver and hear back that all arrived."""
    cluster.container(receiver).exec_run(["python3", "-c", SINK, str(size)], detach=True)
    time.sleep(0.5)
    code, out = cluster.exec(sender, ["python3", "-c", SEND, receiver, str(size)])
    assert code == 0, out
    return float(out.strip().splitlines()[-1])
