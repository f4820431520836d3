"""The backend seam: the few operations the lab needs from whatever runs its containers.

`cluster.control.Cluster` holds everything that is the same on every backend (readiness, health, scaling
policy, draining); a backend deploys the rendered topology, lists the nodes with role, state and the machine
each runs on, and acts on one node's container. `compose` (one Docker engine, Docker Compose) is the
original code (cluster.backends.compose); `swarm` (a Docker Swarm stack, one service per node) is in
cluster.backends.swarm. `cluster.backends` (the package) picks one by kind (apart from this module: the
backends import this one).

Which backend a lab uses is part of its topology (topology.json in the lab's state dir), so every command
after `up` finds it there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

from cluster.errors import LabError

if TYPE_CHECKING:  # the docker SDK is imported by the backends themselves
    from docker.models.containers import Container

    from cluster.images import Images
    from cluster.topology import Topology

Report = Callable[[str], None]
ROLE_ORDER = {role: i for i, role in enumerate(("api", "engine", "executor", "notifier", "broker", "db",
                                                 "witness", "db-init"))}


def _noop(_: str) -> None:
    pass


@dataclass(frozen=True)
class Node:
    name: str           # stable node name: api-1, engine-2, broker, db, witness
    role: str
    container: str      # container name: <project>-<name> (compose), <stack>_<name>.1.<task> (swarm)
    state: str          # docker state: running, exited, paused, created, ...
    host: str = ""      # the machine (swarm node hostname) it runs on; "" on the single-engine compose backend

    @property
    def running(self) -> bool:
        return self.state == "running"


def node_order(node: Node) -> tuple[int, int, str]:
    suffix = node.name.rsplit("-", 1)[-1]
    return ROLE_ORDER.get(node.role, 99), int(suffix) if suffix.isdigit() else 0, node.name


class Backend(Protocol):
    """What a cluster needs from the machinery that runs its containers."""

    kind: str

    def render(self, topology: Topology, images: Images) -> None:
        """Write the deployment files (compose.yaml / stack.yaml, configs) into the lab's state dir."""

    def deploy(self, report: Report, services: list[str] | None = None) -> None:
        """Create every node (None) or only the named ones; returns once they are created (not ready)."""

    def remove(self, services: list[str]) -> None:
        """Remove the named (already stopped) nodes for good: a scale-down."""

    def teardown(self, report: Report) -> None:
        """Remove everything of the lab; idempotent, works after a crash of the lab."""

    def exists(self) -> bool: ...
    def containers(self) -> list[Container]: ...     # every container of the lab, on every engine it reaches
    def nodes(self) -> list[Node]: ...               # every node, the db-init job included
    def container(self, node: str | Node) -> Container: ...
    def endpoint(self, node: str, port: int) -> tuple[str, int] | None: ...   # published (host, port)
    def ip(self, node: str) -> str: ...              # the node's address on the lab network
    def network_name(self) -> str: ...
    def logs(self, node: str, tail: int | str = "all") -> str: ...
    def kill(self, node: str, signal: str = "SIGKILL") -> None: ...
    def stop(self, node: str, timeout: int = 60) -> None: ...
    def start(self, node: str) -> None: ...
    def pause(self, node: str) -> None: ...
    def resume(self, node: str) -> None: ...
    def exec(self, node: str, cmd: list[str], user: str = "root") -> tuple[int, str]: ...


class ContainerOps:
    """Per-node control through the node's container (docker SDK); shared by the backends."""

    def container(self, node: str | Node) -> Container:  # pragma: no cover - each backend has its own
        raise NotImplementedError

    def logs(self, node: str, tail: int | str = "all") -> str:
        return self.container(node).logs(tail=tail, timestamps=False).decode(errors="replace")

    def kill(self, node: str, signal: str = "SIGKILL") -> None:
        self.container(node).kill(signal=signal)

    def stop(self, node: str, timeout: int = 60) -> None:
        """Graceful stop: SIGTERM, then wait up to `timeout` s before the engine sends SIGKILL."""
        self.container(node).stop(timeout=timeout)

    def start(self, node: str) -> None:
        self.container(node).start()

    def pause(self, node: str, tries: int = 3) -> None:
        """The cgroup freezer can give up on a loaded machine ("OCI runtime pause failed: unable to freeze",
        seen once on a 2-core machine at load 30): that is retried, everything else raises at once."""
        import docker.errors

        container = self.container(node)
        for attempt in range(1, tries + 1):
            container.reload()
            if container.status != "running":
                return
            try:
                container.pause()
                return
            except docker.errors.APIError as exc:
                if "unable to freeze" not in str(exc) or attempt == tries:
                    raise
                time.sleep(0.5 * attempt)

    def resume(self, node: str) -> None:
        container = self.container(node)
        container.reload()
        if container.status == "paused":
            container.unpause()

    def exec(self, node: str, cmd: list[str], user: str = "root") -> tuple[int, str]:
        result = self.container(node).exec_run(cmd, user=user)
        return result.exit_code, result.output.decode(errors="replace")

    def host_of(self, node: str, fault: str):  # -> cluster.backends.swarm.hosts.HostRef on a backend with several hosts
        """The machine a node runs on, as a target of a node-level fault; only the swarm backend has several."""
        raise LabError(f"{fault}: node-level faults need a swarm lab spread over several hosts "
                       "(mistral-lab up --backend swarm --hosts FILE --placement spread)")

