"""The compose backend: one Docker engine, one compose project per lab (the lab's original machinery).

Docker Compose (through python-on-whales) creates and removes services; the docker SDK does the per-container
work, which is faster and more precise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import docker.errors
from docker.models.containers import Container
from python_on_whales.exceptions import DockerException

from cluster import db_template
from cluster.backends.base import ContainerOps, Node, Report, node_order
from cluster.docker_env import engine, whales
from cluster.errors import LabError
from cluster.images import Images
from cluster.render import LABEL_NODE, LABEL_ROLE, write_cluster_files
from cluster.topology import Topology

PROJECT_LABEL = "com.docker.compose.project"


class ComposeBackend(ContainerOps):
    kind = "compose"

    def __init__(self, name: str, state_dir: Path):
        self.name = name
        self.state_dir = state_dir

    @property
    def compose_file(self) -> Path:
        return self.state_dir / "compose.yaml"

    # ------------------------------------------------------------ deploy
    def render(self, topology: Topology, images: Images) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        template = db_template.decide(self.state_dir, images, topology.db)
        write_cluster_files(self.state_dir, topology, images, template)

    def deploy(self, report: Report, services: list[str] | None = None) -> None:
        if services is None:
            self._compose_call("up", self._compose().compose.up, detach=True, quiet=True)
        else:
            self._compose_call("up", self._compose().compose.up, services=services, detach=True, quiet=True,
                               dependencies=False)

    def remove(self, services: list[str]) -> None:
        self._compose_call("rm", self._compose().compose.rm, services=services, stop=True, volumes=True)

    def _compose(self):
        if not self.compose_file.exists():
            raise LabError(f"no compose file for lab {self.name!r} at {self.compose_file}")
        return whales(self.name, self.compose_file)

    def _compose_call(self, what: str, call: Callable[..., object], **kwargs) -> None:
        """Run one compose operation; its failure becomes one clear line naming what failed."""
        try:
            call(**kwargs)
        except DockerException as exc:
            detail = (exc.stderr or exc.stdout or str(exc)).strip().splitlines()
            raise LabError(f"docker compose {what} failed for lab {self.name!r}: "
                           f"{detail[-1] if detail else exc.return_code}") from exc

    def teardown(self, report: Report) -> None:
        """Remove containers, networks and volumes of this project; idempotent, works after a lab crash."""
        if self.compose_file.exists():
            try:
                # No grace: the volumes go too, so nothing a graceful stop saves survives (the witness, PID 1
                # without a handler, waited out every second of it: 5.5 s per down).
                self._compose().compose.down(volumes=True, remove_orphans=True, timeout=0, quiet=True)
            except Exception as exc:  # fall through to label-based cleanup; it is what really counts
                report(f"compose down failed ({exc.__class__.__name__}); removing by label")
        self._remove_by_label()

    def _remove_by_label(self) -> None:
        client = engine()
        selector = {"label": f"{PROJECT_LABEL}={self.name}"}
        for container in client.containers.list(all=True, filters=selector):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for network in client.networks.list(filters=selector):
            try:
                network.remove()
            except docker.errors.NotFound:
                pass
        for volume in client.volumes.list(filters=selector):
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                pass

    # ------------------------------------------------------------ discovery
    def containers(self) -> list[Container]:
        return engine().containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.name}"})

    def exists(self) -> bool:
        return bool(self.containers())

    def nodes(self) -> list[Node]:
        found = []
        for container in self.containers():
            labels = container.labels
            found.append(Node(labels.get(LABEL_NODE, container.name), labels.get(LABEL_ROLE, ""), container.name,
                              container.status))
        return sorted(found, key=node_order)

    def container(self, node: str | Node) -> Container:
        name = node.container if isinstance(node, Node) else f"{self.name}-{node}"
        try:
            return engine().containers.get(name)
        except docker.errors.NotFound as exc:
            raise LabError(f"no node {node if isinstance(node, str) else node.name!r} in lab {self.name!r}") from exc

    def endpoint(self, node: str, port: int) -> tuple[str, int] | None:
        container = self.container(node)
        container.reload()
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
        return ("127.0.0.1", int(bindings[0]["HostPort"])) if bindings else None

    def ip(self, node: str) -> str:
        container = self.container(node)
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        return next(iter(networks.values()))["IPAddress"]

    def network_name(self) -> str:
        return f"{self.name}_default"


def compose_labs() -> list[str]:
    """Names of every compose lab that has containers on this engine."""
    names = set()
    for container in engine().containers.list(all=True, filters={"label": LABEL_ROLE}):
        project = container.labels.get(PROJECT_LABEL)
        if project:
            names.add(project)
    return sorted(names)
