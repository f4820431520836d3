"""A swarm lab's state and discovery: the hosts it saved at `up` (swarm.json), the engine of each swarm node
(the local one, or the host's DOCKER_HOST from the hosts file) and the lab's services, tasks and containers
as nodes. The deploy and the node-level operations build on it (cluster.backends.swarm.deploy, .host_ops).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import docker
import docker.errors
import requests
from docker.models.containers import Container

from cluster.backends.base import ContainerOps, Node, node_order
from cluster.backends.swarm.owner import swarm_info
from cluster.backends.swarm.plan import STACK_LABEL, task_state
from cluster.docker_env import engine
from cluster.errors import LabError
from cluster.render import LABEL_NODE, LABEL_ROLE

HOST_TIMEOUT_S = 15


# ------------------------------------------------------------------ other engines
def host_client(docker_host: str) -> docker.DockerClient:
    """A client for one swarm node's engine: ssh:// through the ssh binary (no paramiko), tcp:// directly."""
    return docker.DockerClient(base_url=docker_host, timeout=HOST_TIMEOUT_S,
                               use_ssh_client=docker_host.startswith("ssh://"))


def local_address() -> str:
    """Where the manager's published ports are reached: 127.0.0.1 for a local engine, else DOCKER_HOST's host."""
    parsed = urlparse(os.environ.get("DOCKER_HOST", ""))
    return parsed.hostname if parsed.scheme in ("tcp", "ssh") and parsed.hostname else "127.0.0.1"


def list_containers(client: docker.DockerClient, stack: str) -> list[Container]:
    """A stack's containers on one engine; swarm removes containers while the list is inspected, so a
    container gone in between is a retry, not an error."""
    for _ in range(10):
        try:
            return client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})
        except docker.errors.NotFound:
            time.sleep(0.2)
    return client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})


def created_key(task: dict) -> tuple[str, str]:
    """Task creation time as a sortable key (Docker prints a variable number of fractional digits)."""
    stamp = task.get("CreatedAt", "")
    match = re.match(r"^([^.Z]+)(?:\.(\d+))?", stamp)
    if not match:
        return stamp, ""
    return match[1], (match[2] or "").ljust(9, "0")



class SwarmState(ContainerOps):
    """What the other parts of the swarm backend share: the lab's saved state, its engines, its nodes."""

    def __init__(self, name: str, state_dir: Path):
        self.name = name
        self.state_dir = state_dir
        self._checked_hosts: list[dict] | None = None
        self._clients: dict[str, docker.DockerClient] = {}
        self._unreachable: set[str] = set()  # swarm node ids whose engine did not answer in the last nodes()

    # ------------------------------------------------------------ saved state
    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.yaml"

    def _saved(self) -> dict:
        try:
            return json.loads((self.state_dir / "swarm.json").read_text())
        except (OSError, ValueError):
            return {}

    def _hosts(self) -> list[dict]:
        return self._checked_hosts if self._checked_hosts is not None else self._saved().get("hosts", [])

    def _local_node_id(self) -> str:
        return swarm_info().get("NodeID", "")

    def _active(self) -> bool:
        info = swarm_info()
        return info.get("LocalNodeState") == "active" and bool(info.get("ControlAvailable"))

    def _engine_for(self, node_id: str) -> docker.DockerClient:
        if node_id == self._local_node_id():
            return engine()
        for host in self._hosts():
            if host.get("node_id") == node_id:
                if node_id not in self._clients:
                    self._clients[node_id] = host_client(host["docker_host"])
                return self._clients[node_id]
        raise LabError(f"swarm node {node_id[:12]} runs part of lab {self.name!r} but the lab has no DOCKER_HOST "
                       "for it (name it in --hosts)")

    def _engines(self) -> list[docker.DockerClient]:
        clients = [engine()]
        for host in self._hosts():
            if host.get("node_id") and host["node_id"] != self._local_node_id():
                try:
                    clients.append(self._engine_for(host["node_id"]))
                except Exception:  # an unreachable host: what is on it cannot be listed from here
                    continue
        return clients

    def _address(self, node_id: str) -> str:
        if node_id == self._local_node_id():
            return local_address()
        for host in self._hosts():
            if host.get("node_id") == node_id:
                return host["address"]
        return "127.0.0.1"

    # ------------------------------------------------------------ discovery
    def _services(self) -> list:
        if not self._active():
            return []
        return engine().services.list(filters={"label": f"{STACK_LABEL}={self.name}"})

    def _service(self, name: str):
        found = [s for s in self._services() if s.name == f"{self.name}_{name}"]
        return found[0] if found else None

    def _newest_task(self, name: str, service=None) -> dict | None:
        service = service or self._service(name)
        if service is None:
            return None
        tasks = service.tasks()
        return max(tasks, key=created_key) if tasks else None

    def exists(self) -> bool:
        return bool(self._services())

    def containers(self) -> list[Container]:
        if not self._active():
            return []
        return [c for client in self._engines() for c in list_containers(client, self.name)]

    def _hostnames(self) -> dict[str, str]:
        return {node.id: node.attrs.get("Description", {}).get("Hostname", node.id[:12])
                for node in engine().nodes.list()}

    def nodes(self) -> list[Node]:
        self._unreachable = set()
        services = self._services()
        hostnames = self._hostnames() if services else {}
        found = []
        for service in services:
            labels = service.attrs["Spec"].get("Labels") or {}
            name = labels.get(LABEL_NODE) or service.name[len(self.name) + 1:]
            task = self._newest_task(name, service)
            container, node_id = self._task_container(task)
            state = "unreachable" if node_id in self._unreachable else task_state(
                (task or {}).get("Status", {}).get("State", "shutdown"), container.status if container else None)
            found.append(Node(name, labels.get(LABEL_ROLE, ""), container.name if container is not None else "",
                              state, hostnames.get(node_id, "")))
        return sorted(found, key=node_order)

    def _task_container(self, task: dict | None) -> tuple[Container | None, str]:
        if not task:
            return None, ""
        node_id = task.get("NodeID", "")
        container_id = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
        if not container_id or not node_id:
            return None, node_id
        try:
            return self._engine_for(node_id).containers.get(container_id), node_id
        except (docker.errors.NotFound, LabError):
            return None, node_id
        except docker.errors.APIError:
            return None, node_id
        except (docker.errors.DockerException, requests.exceptions.RequestException):  # its engine is stopped
            self._unreachable.add(node_id)
            return None, node_id

    def container(self, node: str | Node) -> Container:
        name = node.name if isinstance(node, Node) else node
        container, _ = self._task_container(self._newest_task(name))
        if container is None:
            raise LabError(f"no node {name!r} in lab {self.name!r} (no container: not scheduled or removed)")
        return container

    def _node_id_of(self, name: str) -> str:
        return (self._newest_task(name) or {}).get("NodeID", "")

    def endpoint(self, node: str, port: int) -> tuple[str, int] | None:
        task = self._newest_task(node)
        container, node_id = self._task_container(task)
        if container is None:
            return None
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
        return (self._address(node_id), int(bindings[0]["HostPort"])) if bindings else None

    def ip(self, node: str) -> str:
        networks = self.container(node).attrs["NetworkSettings"]["Networks"]
        network = networks.get(self.network_name()) or next(iter(networks.values()))
        return network["IPAddress"]

    def network_name(self) -> str:
        return f"{self.name}_default"
