"""Cluster control: bring a Mistral cluster up, find its nodes, start/stop/kill/pause/resume/scale them, tear down.

This is the Python API the nemesis, workloads and run pipeline use. What is the same on every backend lives
here (readiness, health, the scaling policy, draining); deploying and acting on one node's container is the
backend's (cluster.backends: `compose` on one engine, `swarm` for a Docker Swarm stack). The backend a lab uses
is read from its topology, so every command after `up` works unchanged on either.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

import docker.errors
import requests
from docker.models.containers import Container

from cluster import broker_queues, db_template, removed_logs
from cluster import images as lab_images
from cluster.backends import make_backend
from cluster.backends.base import ROLE_ORDER, Backend, Node, node_order
from cluster.backends.compose import PROJECT_LABEL, compose_labs
from cluster.mistral_options import check_overrides
from cluster.errors import LabError
from cluster.paths import cluster_dir
from cluster.start_failure import keep_failed_log, telling_line
from cluster.render import API_PORT, WITNESS_PORT
from cluster.topology import MISTRAL_ROLES, RPC_TOPICS, Topology, validate_count, validate_role
from cluster.wheels import check_mistral_version

Report = Callable[[str], None]
TOPOLOGY_AT_UP = "topology-at-up.json"
DRAIN_TIMEOUT_S = 15.0  # under constant load an executor may never be idle: then it is stopped anyway
_node_order = node_order  # the old private name


def _noop(_: str) -> None:
    pass


class Cluster:
    """One lab cluster, identified by its compose project name."""

    def __init__(self, name: str = "mistral-lab", backend: str | None = None):
        self.name = name
        self.state_dir = cluster_dir(name)
        self.up_timings: dict[str, float] = {}  # seconds from the start of the last up() to each phase
        self._backend_kind = backend
        self._backend: Backend | None = None

    # ------------------------------------------------------------ backend
    @property
    def backend(self) -> Backend:
        """The lab's backend: the one its saved topology names, else the one asked for, else compose."""
        if self._backend is None:
            kind = self._backend_kind or "compose"
            saved = self.state_dir / "topology.json"
            if self._backend_kind is None and saved.exists():
                try:
                    kind = json.loads(saved.read_text()).get("backend", "compose")
                except ValueError:
                    pass
            self._backend = make_backend(kind, self.name, self.state_dir)
        return self._backend

    @property
    def backend_kind(self) -> str:
        return self.backend.kind

    # ------------------------------------------------------------ discovery
    @property
    def compose_file(self) -> Path:
        return self.state_dir / "compose.yaml"

    def topology(self) -> Topology:
        path = self.state_dir / "topology.json"
        if not path.exists():
            raise LabError(f"no lab named {self.name!r} is known here (no {path}); start one with `mistral-lab up`")
        return Topology.load(path)

    def topology_at_up(self) -> Topology:
        """The topology as `up` made it, before any scaling (what `reset` returns to)."""
        path = self.state_dir / TOPOLOGY_AT_UP
        return Topology.load(path) if path.exists() else self.topology()

    def containers(self) -> list[Container]:
        return self.backend.containers()

    def exists(self) -> bool:
        return self.backend.exists()

    def nodes(self, role: str | None = None, include_jobs: bool = False) -> list[Node]:
        return [node for node in self.backend.nodes()
                if (include_jobs or node.role != "db-init") and (role is None or node.role == role)]

    def node(self, name: str) -> Node:
        for node in self.nodes(include_jobs=True):
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes()) or "none"
        raise LabError(f"no node {name!r} in lab {self.name!r} (nodes: {known})")

    def container(self, node: str | Node) -> Container:
        return self.backend.container(node)

    def endpoint(self, node: str, port: int) -> tuple[str, int] | None:
        """Where a node's published `port` is reached from here: (host, port), None when not published."""
        return self.backend.endpoint(node, port)

    def published_port(self, node: str, port: int) -> int | None:
        found = self.endpoint(node, port)
        return found[1] if found else None

    def published_url(self, node: str, port: int) -> str | None:
        found = self.endpoint(node, port)
        return f"http://{found[0]}:{found[1]}" if found else None

    def api_url(self, node: str) -> str:
        url = self.published_url(node, API_PORT)
        if url is None:
            raise LabError(f"{node} has no published API port (is it running?)")
        return url

    def api_urls(self) -> dict[str, str]:
        return {n.name: self.api_url(n.name) for n in self.nodes("api") if n.running}

    def witness_url(self) -> str:
        url = self.published_url("witness", WITNESS_PORT)
        if url is None:
            raise LabError("the witness service is not running")
        return url

    def ip(self, node: str) -> str:
        return self.backend.ip(node)

    def network_name(self) -> str:
        return self.backend.network_name()

    # ------------------------------------------------------------ lifecycle
    def up(self, topology: Topology, report: Report = _noop, ready_timeout: float = 300.0) -> None:
        """Create the cluster and wait until every node is ready; on any failure or Ctrl-C, remove it all."""
        topology.validate()
        if topology.name != self.name:
            raise LabError("internal: topology name does not match the cluster")
        wanted = make_backend(topology.backend, self.name, self.state_dir)
        if self.exists() or (wanted.kind != self.backend.kind and wanted.exists()):
            raise LabError(f"a lab named {self.name!r} already exists; `mistral-lab down --name {self.name}` "
                           "first or choose another --name")
        self._backend_kind, self._backend = wanted.kind, wanted
        backend = wanted
        started = time.monotonic()
        mark = lambda phase: self.up_timings.__setitem__(phase, round(time.monotonic() - started, 2))  # noqa: E731
        self.up_timings = {}
        check = getattr(backend, "check", None)  # offline-able input checks before anything is built
        if check is not None:
            check(topology, report)
        if topology.mistral_src is None:
            check_mistral_version(topology.mistral_version)
        source = Path(topology.mistral_src) if topology.mistral_src else None
        built = lab_images.ensure_images(topology.mistral_version, source, report)
        mark("images")
        check_overrides(topology.overrides, topology.mistral_version, source)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            backend.render(topology, built)
            topology.save(self.state_dir / TOPOLOGY_AT_UP)
            report("starting containers (the database from its template, or migrated and populated once)")
            backend.deploy(report)
            mark("containers created")
            first_healthy: dict[str, float] = {}
            self.wait_ready(report, timeout=ready_timeout, first_healthy=first_healthy)
            self._record_ready_times(first_healthy, started)
        except BaseException:
            report("bring-up failed: removing what was created")
            self.down()
            raise
        self._capture_db_template(topology, built, report)

    def _capture_db_template(self, topology: Topology, built: lab_images.Images, report: Report) -> None:
        """The first lab of an image pair and database kind leaves its fresh database as the template."""
        try:
            path = db_template.capture(self.container("db"), built, topology.db)
        except (LabError, docker.errors.APIError) as exc:  # the next up migrates again; this lab is fine
            report(f"no database template kept: {exc}")
            return
        if path is not None:
            report(f"database template kept for the next up: {path.name}")

    def down(self, report: Report = _noop) -> None:
        """Remove every container, network and volume of this lab; idempotent, works after a lab crash."""
        self.backend.teardown(report)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # ------------------------------------------------------------ readiness
    def rpc_consumers(self, queues: list[str] | None = None) -> dict[str, int]:
        """Consumers per RabbitMQ queue; {} when the broker cannot answer (cluster.broker_queues)."""
        return broker_queues.consumers(self, queues)

    def api_answers(self, node: str, timeout: float = 3.0) -> bool:
        try:
            return requests.get(f"{self.api_url(node)}/v2/workflows", timeout=timeout).status_code == 200
        except (requests.RequestException, LabError):
            return False

    def health(self) -> dict[str, bool]:
        """Is each node really serving: APIs answer, engines/executors/notifiers consume their RPC queue."""
        nodes = self.nodes()
        kombu = self.topology().overrides.get("DEFAULT", {}).get("rpc_implementation") == "kombu"
        queues = broker_queues.rpc_queues(nodes, RPC_TOPICS, kombu)
        serving = broker_queues.rpc_serving(nodes, RPC_TOPICS, self.rpc_consumers(queues) if queues else {}, kombu)
        verdicts = {}
        for node in nodes:
            if not node.running:
                verdicts[node.name] = False
            elif node.role == "api":
                verdicts[node.name] = self.api_answers(node.name)
            elif node.role in RPC_TOPICS:
                verdicts[node.name] = serving.get(node.name, False)
            else:
                verdicts[node.name] = self._docker_healthy(node)
        return verdicts

    def _docker_healthy(self, node: Node) -> bool:
        container = self.container(node)
        health = container.attrs.get("State", {}).get("Health")
        return health is None or health.get("Status") == "healthy"

    def _record_ready_times(self, first_healthy: dict[str, float], started: float) -> None:
        """The warm-up breakdown: when the schema job finished and when each role's last node became ready."""
        for name, at in sorted(first_healthy.items(), key=lambda item: item[1]):
            key = "schema (db-init done)" if name == "db-init" else f"{name.rsplit('-', 1)[0]} ready"
            self.up_timings[key] = round(max(self.up_timings.get(key, 0.0), at - started), 2)
        self.up_timings["all ready"] = round(time.monotonic() - started, 2)

    def wait_ready(self, report: Report = _noop, timeout: float = 300.0, nodes: list[str] | None = None,
                   first_healthy: dict[str, float] | None = None) -> None:
        """Poll until every node (or `nodes`) is healthy; `first_healthy` collects when each first was."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            self._fail_on_exited_jobs(first_healthy)
            health = self.health()
            if first_healthy is not None:
                for name, ok in health.items():
                    if ok:
                        first_healthy.setdefault(name, time.monotonic())
            wanted = nodes if nodes is not None else list(health)
            waiting = [n for n in wanted if not health.get(n, False)]
            summary = f"ready {len(wanted) - len(waiting)}/{len(wanted)}" + (
                f"; waiting for {', '.join(waiting)}" if waiting else "")
            if summary != last:
                report(summary)
                last = summary
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(f"lab {self.name!r} not ready after {timeout:.0f}s; not ready: {', '.join(waiting)} "
                               f"(see `mistral-lab logs {waiting[0]} --name {self.name}`)")
            time.sleep(1.0)

    def _fail_on_exited_jobs(self, first_healthy: dict[str, float] | None = None) -> None:
        for node in self.nodes(include_jobs=True):
            done = node.role == "db-init" and node.state == "exited" \
                and self.container(node).attrs["State"]["ExitCode"] == 0
            if done and first_healthy is not None:
                first_healthy.setdefault("db-init", time.monotonic())
            if node.state in ("exited", "dead") and not done:
                text = self.logs(node.name)
                kept = keep_failed_log(self.name, node.name, text)
                raise LabError(f"{node.name} exited during start-up: {telling_line(text)[:300]} "
                               f"(its whole log: {kept})")

    # ------------------------------------------------------------ per-node control
    def logs(self, node: str, tail: int | str = "all") -> str:
        return self.backend.logs(node, tail=tail)

    def kill(self, node: str, signal: str = "SIGKILL") -> None:
        self.backend.kill(node, signal=signal)

    def stop(self, node: str, timeout: int = 60) -> None:
        """Graceful stop: SIGTERM, then wait up to `timeout` s before the engine sends SIGKILL."""
        self.backend.stop(node, timeout=timeout)

    def start(self, node: str) -> None:
        self.backend.start(node)

    def pause(self, node: str) -> None:
        self.backend.pause(node)

    def resume(self, node: str) -> None:
        self.backend.resume(node)

    def exec(self, node: str, cmd: list[str], user: str = "root") -> tuple[int, str]:
        return self.backend.exec(node, cmd, user=user)

    # ------------------------------------------------------------ scaling
    def scale(self, role: str, count: int, kill: bool = False, report: Report = _noop,
              ready_timeout: float = 180.0, drain: bool = False) -> list[str]:
        """Add or remove nodes of a role while the cluster runs; returns the names added or removed.

        A graceful removal is SIGTERM, what an operator does, so Mistral's own shutdown is what gets judged;
        `drain` first waits until an executor runs no witnessed action (Mistral 23 abandons in-flight actions
        on SIGTERM) - an explicit choice, never the default."""
        validate_role(role)
        validate_count(role, count)
        topology = self.topology()
        current = topology.count(role)
        if count == current:
            return []
        new_topology = topology.with_count(role, count)
        images = lab_images.Images(**json.loads((self.state_dir / "images.json").read_text()))
        if count > current:
            added = new_topology.node_names(role)[current:]
            self.backend.render(new_topology, images)
            report(f"starting {', '.join(added)}")
            self.backend.deploy(report, services=added)
            self.wait_ready(report, timeout=ready_timeout, nodes=added)
            return added
        removed = topology.node_names(role)[count:]
        for node in reversed(removed):
            if kill:
                report(f"killing {node}")
                self.kill(node)
            else:
                if drain:
                    report(f"draining {node}")
                    self.drain(node)
                report(f"stopping {node}")
                self.stop(node)
        removed_logs.keep(self, removed)
        self.backend.remove(removed)
        self.backend.render(new_topology, images)
        return removed

    def in_flight_actions(self, node: str) -> int:
        """Witnessed action runs started on `node` that have not ended (0 when the witness cannot answer)."""
        from history.witness import witness_runs

        try:
            records = self.witness_records()
        except (requests.RequestException, LabError):
            return 0
        return sum(1 for run in witness_runs(records) if run.executor == node and not run.completed)

    def witness_records(self, timeout: float = 10.0) -> list[dict]:
        """The witness's records so far (requests' and LabError's errors pass through)."""
        records = []
        for line in requests.get(f"{self.witness_url()}/records", timeout=timeout).text.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a torn last line while the witness writes
        return records

    def drain(self, node: str, timeout: float = DRAIN_TIMEOUT_S, quiet_s: float = 0.5) -> bool:
        """Wait until `node` runs no witnessed action for `quiet_s` (bounded by `timeout`; False if it never
        went idle, and the caller stops it anyway).

        Mistral 23's executor abandons an in-flight action on SIGTERM (its heartbeats stop and the engine
        fails the action with "Heartbeat wasn't received"), so a graceful removal waits for the node to be
        idle first; `--kill` / abrupt removal skips this on purpose."""
        if not node.startswith("executor-"):
            return True
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            if self.in_flight_actions(node) == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= quiet_s:
                    return True
            else:
                idle_since = None
            time.sleep(0.2)
        return False


def list_labs() -> list[str]:
    """Names of every lab on this engine: compose projects with lab containers, and swarm stacks."""
    names = set(compose_labs())
    try:
        from cluster.backends.swarm.owner import swarm_labs

        names.update(swarm_labs())
    except LabError:
        pass
    return sorted(names)


__all__ = ["Cluster", "Node", "MISTRAL_ROLES", "PROJECT_LABEL", "ROLE_ORDER", "list_labs"]

