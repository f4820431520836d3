"""Deploying a swarm lab: the input checks (before anything is built), the stack file, and deploys in phases
(swarm has no depends_on): database, broker and witness; then the schema job; then every Mistral node. Also
the images copied to the other hosts, the removal of nodes (a scale-down) and the teardown.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import docker.errors
import yaml
from docker.models.containers import Container
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run as run_docker

from cluster.backends.base import Report
from cluster.backends.swarm.owner import acquire_swarm, release_swarm, remove_network, swarm_info
from cluster.backends.swarm.plan import (INFRA, STACK_LABEL, HostEntry, HostFacts, SwarmNode, check_hosts,
                                         images_by_host, parse_hosts, phase_document, placement, plan_image_copies,
                                         stack_document)
from cluster.backends.swarm.state import SwarmState, host_client, list_containers
from cluster.docker_env import engine, whales
from cluster.errors import LabError
from cluster.images import Images
from cluster.paths import COMPOSE_DIR, cache_dir
from cluster.render import LABEL_NODE, load_or_make_secrets, write_cluster_files
from cluster.topology import Topology

PHASE_TIMEOUT_S = 420.0  # a loaded 2-core machine took over 4 min to start RabbitMQ
GONE_TIMEOUT_S = 60.0


def _noop(_: str) -> None:
    pass


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


class SwarmDeploy(SwarmState):
    """The Backend's deploy side for a stack: check, render, deploy, remove, teardown."""

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
        if services is not None:  # a scale-up: only the new nodes' services, so no running node is touched
            self._stack_deploy(phase_document(document, services))
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
                remove_network(client, network.name)
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
            left = [c for client in self._engines() for c in list_containers(client, self.name) if which(c)]
            if not left:
                return
            if time.monotonic() > deadline:
                for container in left:
                    with contextlib.suppress(docker.errors.NotFound):
                        container.remove(force=True, v=True)
                return
            time.sleep(0.5)
