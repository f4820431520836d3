"""The swarm backend: a lab as a Docker Swarm stack, one service per node (api-1, engine-2, ...), one replica.

Deploys run in phases (swarm has no depends_on): database, broker and witness; then the schema job; then every
Mistral node. Faults act on a task's container through the engine of the swarm node that runs it (the local
engine, or the host's DOCKER_HOST from the hosts file); `start` is a forced service update, because a swarm
task that stopped is never started again (restart policy none: a killed node stays down until healed).

The swarm itself: with no swarm on the local engine, `up` creates a single-node one (advertised on 127.0.0.1)
and remembers that in <state root>/swarm-owner.json with every lab that uses it; the last lab's `down` leaves
the swarm and removes what it created (docker_gwbridge), so the engine is back as it was found. A swarm the
lab did not create is never left.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlparse

import docker
import docker.errors
import requests
import yaml
from docker.models.containers import Container
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run as run_docker

from cluster.backends.base import ContainerOps, Node, Report, node_order
from cluster.backends.swarm.hosts import (HostRef, chain_name, choose_host, control_port, cut_script, peers_of,
                                          restore_script)
from cluster.backends.swarm.plan import (INFRA, STACK_LABEL, HostEntry, HostFacts, SwarmNode, check_hosts,
                                         images_by_host, parse_hosts, phase_document, placement, plan_image_copies,
                                         stack_document, task_state)
from cluster.docker_env import engine, whales
from cluster.errors import LabError
from cluster.images import Images
from cluster.paths import COMPOSE_DIR, cache_dir, state_root
from cluster.render import LABEL_NODE, LABEL_ROLE, load_or_make_secrets, write_cluster_files
from cluster.topology import Topology

OWNER_FILE = "swarm-owner.json"
GWBRIDGE = "docker_gwbridge"
HOST_TIMEOUT_S = 15
PHASE_TIMEOUT_S = 420.0  # a loaded 2-core machine took over 4 min to start RabbitMQ
GONE_TIMEOUT_S = 60.0
NEW_TASK_TIMEOUT_S = 60.0
ENGINE_COMMAND_S = 120.0  # a host's engine-stop / engine-start command, and the wait for its engine after


def _noop(_: str) -> None:
    pass


# ------------------------------------------------------------------ the swarm's owner record
@contextlib.contextmanager
def _owner_lock() -> Iterator[Path]:
    path = state_root() / OWNER_FILE
    with open(state_root() / (OWNER_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path


def _read_owner(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def swarm_info(client: docker.DockerClient | None = None) -> dict:
    return (client or engine()).info().get("Swarm") or {}


def acquire_swarm(lab: str, report: Report = _noop) -> None:
    """Make sure this engine manages a swarm; create a single-node one when there is none (and remember that,
    with `lab` among its users)."""
    client = engine()
    with _owner_lock() as path:
        info = swarm_info(client)
        state = info.get("LocalNodeState", "inactive")
        owner = _read_owner(path)
        if state == "inactive":
            gw_existed = bool(client.networks.list(names=[GWBRIDGE]))
            report("no swarm on this engine: creating a single-node swarm (advertised on 127.0.0.1)")
            try:
                client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            except docker.errors.APIError as exc:
                raise LabError(f"docker swarm init failed: {exc.explanation or exc}") from exc
            owner = {"created": True, "gwbridge_existed": gw_existed, "labs": []}
        elif state != "active":
            raise LabError(f"this engine's swarm state is {state!r} ({info.get('Error') or 'no detail'}); "
                           "fix or leave that swarm first")
        elif not info.get("ControlAvailable"):
            raise LabError("this engine is a swarm worker: run the lab against a manager (DOCKER_HOST)")
        elif owner is None:
            owner = {"created": False, "labs": []}
        owner["labs"] = sorted(set(owner["labs"]) | {lab})
        path.write_text(json.dumps(owner))


def release_swarm(lab: str, report: Report = _noop) -> None:
    """Drop `lab` from the swarm's users; the last one leaves a swarm the lab created and removes its
    leftovers, so the engine's swarm state is what it was before the first `up`."""
    client = engine()
    with _owner_lock() as path:
        owner = _read_owner(path)
        if owner is None:
            return
        owner["labs"] = [name for name in owner["labs"] if name != lab]
        if owner["labs"]:
            path.write_text(json.dumps(owner))
            return
        if owner.get("created") and swarm_info(client).get("LocalNodeState") == "active":
            if client.services.list():
                report("the lab's swarm still runs services it did not create: leaving it in place")
                path.write_text(json.dumps(owner))
                return
            report("leaving the single-node swarm the lab created")
            client.swarm.leave(force=True)
        if owner.get("created") and not owner.get("gwbridge_existed"):
            _remove_network(client, GWBRIDGE)
        path.unlink(missing_ok=True)


def _remove_network(client: docker.DockerClient, name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = client.networks.list(names=[name])
        if not found:
            return
        try:
            found[0].remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def swarm_labs() -> list[str]:
    """Stacks of lab services on this engine's swarm (none when it is not a manager)."""
    try:
        info = swarm_info()
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            return []
        return sorted({s.attrs["Spec"].get("Labels", {}).get(STACK_LABEL, "")
                       for s in engine().services.list(filters={"label": LABEL_ROLE})} - {""})
    except docker.errors.APIError:
        return []


# ------------------------------------------------------------------ other engines
def host_client(docker_host: str) -> docker.DockerClient:
    """A client for one swarm node's engine: ssh:// through the ssh binary (no paramiko), tcp:// directly."""
    return docker.DockerClient(base_url=docker_host, timeout=HOST_TIMEOUT_S,
                               use_ssh_client=docker_host.startswith("ssh://"))


def host_facts(entry: HostEntry) -> HostFacts:
    try:
        client = host_client(entry.docker_host)
        client.ping()
        info = client.info()
    except Exception as exc:  # docker, requests, ssh and socket errors all mean "unreachable"
        detail = str(exc).strip().splitlines()
        return HostFacts(entry.docker_host, error=f"{exc.__class__.__name__}: {detail[0][:160] if detail else ''}")
    swarm = info.get("Swarm") or {}
    return HostFacts(entry.docker_host, node_id=swarm.get("NodeID", ""), swarm_state=swarm.get("LocalNodeState", ""),
                     cluster_id=(swarm.get("Cluster") or {}).get("ID", ""), arch=info.get("Architecture", ""))


def local_address() -> str:
    """Where the manager's published ports are reached: 127.0.0.1 for a local engine, else DOCKER_HOST's host."""
    parsed = urlparse(os.environ.get("DOCKER_HOST", ""))
    return parsed.hostname if parsed.scheme in ("tcp", "ssh") and parsed.hostname else "127.0.0.1"


def _list_containers(client: docker.DockerClient, stack: str) -> list[Container]:
    """A stack's containers on one engine; swarm removes containers while the list is inspected, so a
    container gone in between is a retry, not an error."""
    for _ in range(10):
        try:
            return client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})
        except docker.errors.NotFound:
            time.sleep(0.2)
    return client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})


def _created_key(task: dict) -> tuple[str, str]:
    """Task creation time as a sortable key (Docker prints a variable number of fractional digits)."""
    stamp = task.get("CreatedAt", "")
    match = re.match(r"^([^.Z]+)(?:\.(\d+))?", stamp)
    if not match:
        return stamp, ""
    return match[1], (match[2] or "").ljust(9, "0")


class SwarmBackend(ContainerOps):
    kind = "swarm"

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

    # ------------------------------------------------------------ input checks (before anything is built)
    def check(self, topology: Topology, report: Report = _noop) -> None:
        local = engine().info()
        info = local.get("Swarm") or {}
        state = info.get("LocalNodeState", "inactive")
        if state not in ("inactive", "active"):
            raise LabError(f"this engine's swarm state is {state!r} ({info.get('Error') or 'no detail'})")
        if state == "active" and not info.get("ControlAvailable"):
            raise LabError("this engine is a swarm worker: run the lab against a manager (DOCKER_HOST)")
        if topology.hosts is None:
            self._checked_hosts = []
            return
        if state != "active":
            raise LabError("--hosts needs this engine to manage the swarm the hosts are in: `docker swarm init` "
                           "here and `docker swarm join` on each host first")
        entries = parse_hosts(Path(topology.hosts).read_text(), topology.hosts)
        report(f"checking {len(entries)} host(s) of {topology.hosts}")
        facts = [host_facts(entry) for entry in entries]
        manager = HostFacts("local", node_id=info.get("NodeID", ""), swarm_state=state,
                            cluster_id=(info.get("Cluster") or {}).get("ID", ""), arch=local.get("Architecture", ""))
        check_hosts(facts, manager, local.get("Architecture", ""))
        self._checked_hosts = [{**asdict(entry), "node_id": fact.node_id, "labels": list(entry.labels)}
                               for entry, fact in zip(entries, facts)]

    # ------------------------------------------------------------ render and deploy
    def _swarm_nodes(self) -> list[SwarmNode]:
        found = []
        for node in engine().nodes.list():
            spec, status = node.attrs.get("Spec", {}), node.attrs.get("Status", {})
            found.append(SwarmNode(node.id, node.attrs.get("Description", {}).get("Hostname", node.id[:12]),
                                   spec.get("Role") == "manager",
                                   status.get("State") == "ready" and spec.get("Availability") == "active",
                                   dict(spec.get("Labels") or {})))
        return found

    def render(self, topology: Topology, images: Images) -> None:
        if self._checked_hosts is None and not (self.state_dir / "swarm.json").exists():
            self.check(topology)
        acquire_swarm(self.name)
        hosts = self._hosts()
        (self.state_dir / "swarm.json").write_text(json.dumps({"hosts": hosts}, indent=2))
        write_cluster_files(self.state_dir, topology, images)
        (self.state_dir / "compose.yaml").unlink(missing_ok=True)  # the stack file is what runs
        local_id = self._local_node_id()
        reachable = {local_id} | {h["node_id"] for h in hosts}
        nodes = [n for n in self._swarm_nodes() if n.id in reachable]
        constraints = placement(topology, nodes, local_id, topology.placement)
        document = stack_document(topology, images, load_or_make_secrets(self.state_dir), self.state_dir,
                                  constraints, COMPOSE_DIR / "witness")
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        (self.state_dir / "images.json").write_text(json.dumps({"mistral": images.mistral, "infra": images.infra}))

    def _stack_deploy(self, document: dict) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=self.state_dir, delete=False) as out:
            yaml.safe_dump(document, out, sort_keys=False)
        try:  # python-on-whales' stack.deploy prints every "Creating service" line; run its command quietly
            run_docker([*whales().docker_cmd, "stack", "deploy", "--compose-file", out.name,
                        "--resolve-image", "never", self.name])
        except DockerException as exc:
            detail = (exc.stderr or exc.stdout or str(exc)).strip().splitlines()
            raise LabError(f"docker stack deploy failed for lab {self.name!r}: "
                           f"{detail[-1] if detail else exc.return_code}") from exc
        finally:
            Path(out.name).unlink(missing_ok=True)

    def deploy(self, report: Report, services: list[str] | None = None) -> None:
        document = yaml.safe_load(self.stack_file.read_text())
        if services is not None:
            self._stack_deploy(document)
            return
        self._distribute_images(report)
        report("deploying database, broker and witness")
        self._stack_deploy(phase_document(document, list(INFRA)))
        self._wait_phase(["db", "broker", "witness"], "healthy", report)
        report("migrating and populating the schema")
        self._stack_deploy(phase_document(document, [*INFRA, "db-init"]))
        self._wait_phase(["db-init"], "complete", report)
        report("deploying the Mistral nodes")
        self._stack_deploy(document)

    def _wait_phase(self, names: list[str], goal: str, report: Report, timeout: float = PHASE_TIMEOUT_S) -> None:
        """Until every named node is healthy (infrastructure) or completed (the schema job); a task swarm
        rejected or that failed for good is one clear line at once."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = []
            for name in names:
                task = self._newest_task(name)
                state = (task or {}).get("Status", {}).get("State", "missing")
                if state in ("rejected",) or (state == "failed" and goal != "complete"):
                    error = task["Status"].get("Err") or task["Status"].get("Message") or state
                    raise LabError(f"{name} could not start on the swarm: {error}")
                if goal == "complete":
                    if state != "complete":
                        waiting.append(name)
                elif state != "running" or not self._healthy(name):
                    waiting.append(name)
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(f"lab {self.name!r}: {', '.join(waiting)} not {goal} after {timeout:.0f}s "
                               f"(see `mistral-lab logs {waiting[0]} --name {self.name}`)")
            time.sleep(1.0)

    def _healthy(self, name: str) -> bool:
        try:
            container = self.container(name)
        except LabError:
            return False
        health = container.attrs.get("State", {}).get("Health")
        return container.status == "running" and (health is None or health.get("Status") == "healthy")

    def _distribute_images(self, report: Report) -> None:
        """Every host the hosts file names gets the lab's images (save here, load there), once per content."""
        hosts = [h for h in self._hosts() if h.get("node_id") != self._local_node_id()]
        if not hosts:
            return
        saved = json.loads((self.state_dir / "images.json").read_text())
        wanted = {tag: engine().images.get(tag).id for tag in saved.values()}
        needed = images_by_host(yaml.safe_load(self.stack_file.read_text()), [h["node_id"] for h in hosts])
        present: dict[str, dict[str, str | None]] = {}
        for host in hosts:
            client = self._engine_for(host["node_id"])
            present[host["node_id"]] = {}
            for tag in wanted:
                if tag not in needed[host["node_id"]]:
                    present[host["node_id"]][tag] = wanted[tag]  # never runs there: nothing to copy
                    continue
                try:
                    present[host["node_id"]][tag] = client.images.get(tag).id
                except docker.errors.ImageNotFound:
                    present[host["node_id"]][tag] = None
        for node_id, tags in plan_image_copies(wanted, present).items():
            client = self._engine_for(node_id)
            for tag in tags:
                report(f"copying {tag} to {next(h['docker_host'] for h in hosts if h['node_id'] == node_id)}")
                with tempfile.TemporaryFile(dir=cache_dir()) as archive:
                    for chunk in engine().api.get_image(tag):
                        archive.write(chunk)
                    archive.seek(0)
                    client.images.load(archive)

    def remove(self, services: list[str]) -> None:
        for name in services:
            service = self._service(name)
            if service is not None:
                service.remove()
        self._wait_gone(lambda c: c.labels.get(LABEL_NODE) in services)

    def teardown(self, report: Report) -> None:
        """Services, then their containers (swarm removes them), networks, configs, secrets and volumes of the
        stack on every engine; then the swarm itself if the lab made it and no other lab uses it."""
        if swarm_info().get("LocalNodeState") == "active":
            selector = {"label": f"{STACK_LABEL}={self.name}"}
            client = engine()
            for service in client.services.list(filters=selector):
                with contextlib.suppress(docker.errors.NotFound):
                    service.remove()
            self._wait_gone(lambda c: True)
            for network in client.networks.list(filters=selector):
                _remove_network(client, network.name)
            for kind in (client.configs, client.secrets):
                for item in kind.list(filters=selector):
                    with contextlib.suppress(docker.errors.NotFound):
                        item.remove()
            for other in self._engines():
                for volume in other.volumes.list(filters=selector):
                    with contextlib.suppress(docker.errors.NotFound):
                        volume.remove(force=True)
        release_swarm(self.name, report)

    def _wait_gone(self, which: Callable[[Container], bool]) -> None:
        """Swarm removes a removed service's containers by itself; wait for that, then force what is left."""
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while True:
            left = [c for client in self._engines() for c in _list_containers(client, self.name) if which(c)]
            if not left:
                return
            if time.monotonic() > deadline:
                for container in left:
                    with contextlib.suppress(docker.errors.NotFound):
                        container.remove(force=True, v=True)
                return
            time.sleep(0.5)

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
        return max(tasks, key=_created_key) if tasks else None

    def exists(self) -> bool:
        return bool(self._services())

    def containers(self) -> list[Container]:
        if not self._active():
            return []
        return [c for client in self._engines() for c in _list_containers(client, self.name)]

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

    # ------------------------------------------------------------ per-node control
    def start(self, node: str) -> None:
        """A stopped swarm task never runs again: a forced update gives the service a new task (and container)."""
        service = self._service(node)
        if service is None:
            raise LabError(f"no node {node!r} in lab {self.name!r}")
        task = self._newest_task(node, service)
        container, _ = self._task_container(task)
        alive = task_state((task or {}).get("Status", {}).get("State", "shutdown"),
                           container.status if container is not None else None) in ("created", "running", "paused")
        # A task swarm means to stop (its node drained, or back from an engine restart) may still report
        # running: only one it still wants running is left alone.
        if alive and (task or {}).get("DesiredState", "running") == "running":
            return  # a task is starting or runs already: a second forced update would restart it
        service.force_update()
        # The new task appears asynchronously; until it does, the node still shows its old, exited task (after
        # a drained host or a restarted engine, its container may even be gone), which callers read as a
        # node that failed to start.
        old = (task or {}).get("ID")
        deadline = time.monotonic() + NEW_TASK_TIMEOUT_S
        while time.monotonic() < deadline:
            newest = self._newest_task(node, service)
            if newest is not None and newest.get("ID") != old:
                return
            time.sleep(0.5)
        raise LabError(f"{node}: swarm made no new task within {NEW_TASK_TIMEOUT_S:.0f} s of a forced update")

    # ------------------------------------------------------------ node-level control (a whole swarm node)
    def swarm_hosts(self) -> list[HostRef]:
        local = self._local_node_id()
        saved = {h["node_id"]: h for h in self._hosts() if h.get("node_id")}
        return [HostRef(node.id, node.attrs.get("Description", {}).get("Hostname", node.id[:12]),
                        node.attrs.get("Status", {}).get("Addr", ""),
                        node.attrs.get("Spec", {}).get("Role") == "manager",
                        "" if node.id == local else saved.get(node.id, {}).get("docker_host", ""),
                        saved.get(node.id, {}).get("engine_stop", ""), saved.get(node.id, {}).get("engine_start", ""))
                for node in engine().nodes.list()]

    def host_of(self, node: str, fault: str) -> HostRef:
        host = choose_host(self.swarm_hosts(), self._node_id_of(node), node, fault)
        if not host.docker_host:
            raise LabError(f"{fault}: {node} runs on {host.label}, whose engine the lab cannot reach (name it "
                           "in --hosts)")
        return host

    def nodes_on(self, host: HostRef) -> list[str]:
        """The lab's nodes whose newest task is on `host`."""
        return [n.name for n in self.nodes() if self._node_id_of(n.name) == host.node_id]

    def _host_helper(self, host: HostRef, script: str) -> str:
        """A throw-away container with the host's own network and NET_ADMIN, through that host's engine."""
        image = json.loads((self.state_dir / "images.json").read_text())["mistral"]
        try:
            output = self._engine_for(host.node_id).containers.run(
                image, ["-c", script], entrypoint=["sh"], network_mode="host", cap_add=["NET_ADMIN", "NET_RAW"],
                remove=True, labels={"mistral-lab.helper": self.name})
        except docker.errors.ContainerError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
            raise LabError(f"iptables on {host.label} failed: {detail[-1] if detail else exc.exit_status}") from exc
        except docker.errors.DockerException as exc:
            raise LabError(f"cannot reach the engine of {host.label}: {str(exc).splitlines()[0][:200]}") from exc
        return output.decode(errors="replace") if isinstance(output, bytes) else str(output)

    def cut_host(self, host: HostRef) -> list[str]:
        """Drop every packet between `host` and its swarm peers; returns the peers cut off."""
        peers = peers_of(self.swarm_hosts(), host)
        self._host_helper(host, cut_script(chain_name(self.name), peers, control_port(host.docker_host)))
        return peers

    def restore_host(self, host: HostRef) -> int:
        """Undo cut_host; the number of iptables jumps removed (0: nothing was cut)."""
        output = self._host_helper(host, restore_script(chain_name(self.name)))
        found = re.search(r"removed=(\d+)", output)
        return int(found[1]) if found else 0

    def set_availability(self, host: HostRef, availability: str) -> None:
        """`docker node update --availability active|drain` (the whole spec is sent back: labels stay)."""
        node = engine().nodes.get(host.node_id)
        spec = dict(node.attrs.get("Spec") or {})
        spec["Availability"] = availability
        node.update(spec)

    def availability(self, host: HostRef) -> str:
        return engine().nodes.get(host.node_id).attrs.get("Spec", {}).get("Availability", "")

    def node_status(self, host: HostRef) -> str:
        """The manager's view of a swarm node: ready, down, unknown, disconnected."""
        return engine().nodes.get(host.node_id).attrs.get("Status", {}).get("State", "unknown")

    def run_engine_command(self, host: HostRef, which: str) -> None:
        """Run the hosts file's engine-stop / engine-start command for `host` on this machine."""
        command = host.engine_stop if which == "stop" else host.engine_start
        if not command:
            raise LabError(f"host-engine-stop: {host.label} has no engine-stop / engine-start command in the hosts "
                           "file (e.g. engine-stop=\"ssh lab@HOST sudo systemctl stop docker\")")
        try:
            result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=ENGINE_COMMAND_S)
        except subprocess.TimeoutExpired:
            raise LabError(f"engine-{which} for {host.label} did not finish in {ENGINE_COMMAND_S:.0f} s") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise LabError(f"engine-{which} for {host.label} failed: {detail[-1] if detail else result.returncode}")

    def wait_engine(self, host: HostRef, timeout: float = ENGINE_COMMAND_S) -> None:
        """Until the host's engine answers and the manager sees its swarm node ready again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                host_client(host.docker_host).ping()
                if self.node_status(host) == "ready":
                    self._clients.pop(host.node_id, None)  # the old client's connections died with the engine
                    return
            except Exception:  # not up yet: connection refused, ssh failure
                pass
            time.sleep(1.0)
        raise LabError(f"the engine of {host.label} did not come back in {timeout:.0f} s")
