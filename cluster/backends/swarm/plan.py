"""The swarm backend's decisions as pure functions: the hosts file, placement, image distribution, the stack file.

Nothing here talks to Docker, so every decision is unit-tested (cluster/tests/test_swarm_plan.py); the backend
(cluster.backends.swarm.backend) gathers the facts (engine info, node list, image ids) and acts on the plan.
"""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from cluster.errors import LabError
from cluster.images import Images
from cluster.render import API_PORT, LABEL_NODE, LABEL_ROLE, WITNESS_PORT, compose_document, warm_start_decision
from cluster.topology import Topology

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
INFRA = ("db", "broker", "witness")
SCHEMES = ("ssh", "tcp")
ROLE_LABEL = "mistral-lab.{role}"  # swarm node label for --placement labels: mistral-lab.executor=true
# The Docker names of a CPU, normalised to the names images carry (`docker image inspect .Architecture`).
ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                "armv7l": "arm", "arm": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


# ------------------------------------------------------------------ hosts file
@dataclass(frozen=True)
class HostEntry:
    """One swarm node as the hosts file names it."""

    docker_host: str                  # ssh://user@10.0.0.2 or tcp://10.0.0.2:2376
    address: str                      # where its published ports are reached from the lab's machine
    line: int = 0
    labels: tuple[str, ...] = ()      # roles this host takes under --placement labels (informative)
    engine_stop: str = ""             # a shell command, run on the lab's machine, that stops the host's engine
    engine_start: str = ""            # ... and starts it again (host-engine-stop needs both)


def parse_hosts(text: str, source: str = "hosts file") -> list[HostEntry]:
    """One host a line: `DOCKER_HOST [address=ADDR] [roles=a,b] [engine-stop=CMD engine-start=CMD]` (shell
    quoting: `engine-stop="ssh lab@h2 sudo systemctl stop docker"`); `#` starts a comment. The address defaults
    to the DOCKER_HOST's host name. Raises LabError naming the file and line."""
    entries: list[HostEntry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise LabError(f"{source}:{number}: {exc}") from None
        url, options = words[0], words[1:]
        parsed = urlparse(url)
        if parsed.scheme not in SCHEMES or not parsed.hostname:
            raise LabError(f"{source}:{number}: {url!r} is not a DOCKER_HOST: use ssh://[user@]host[:port] or "
                           "tcp://host:port")
        address = parsed.hostname
        labels: tuple[str, ...] = ()
        commands = {"engine-stop": "", "engine-start": ""}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or not value:
                raise LabError(f"{source}:{number}: malformed {option!r}: expected address=ADDR or roles=a,b")
            if key == "address":
                address = value
            elif key == "roles":
                labels = tuple(r for r in value.split(",") if r)
            elif key in commands:
                commands[key] = value
            else:
                raise LabError(f"{source}:{number}: unknown option {key!r} (address, roles, engine-stop, "
                               "engine-start)")
        if bool(commands["engine-stop"]) != bool(commands["engine-start"]):
            raise LabError(f"{source}:{number}: engine-stop and engine-start go together (the lab must be able "
                           "to start what it stopped)")
        if url in seen:
            raise LabError(f"{source}:{number}: {url} is already on line {seen[url]}")
        seen[url] = number
        entries.append(HostEntry(url, address, number, labels, commands["engine-stop"], commands["engine-start"]))
    if not entries:
        raise LabError(f"{source}: names no host (one DOCKER_HOST a line: ssh://user@host or tcp://host:2376)")
    return entries


def normalise_arch(arch: str) -> str:
    return ARCH_ALIASES.get(arch.lower(), arch.lower())


# ------------------------------------------------------------------ facts about the swarm
@dataclass(frozen=True)
class SwarmNode:
    id: str
    hostname: str
    manager: bool
    ready: bool = True                # Status.State == ready and Availability == active
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostFacts:
    """What one engine said about itself (docker info), or why it could not be asked."""

    docker_host: str
    error: str = ""                   # non-empty: unreachable
    node_id: str = ""
    swarm_state: str = ""             # LocalNodeState: active, inactive, pending, ...
    cluster_id: str = ""
    arch: str = ""


def check_hosts(facts: list[HostFacts], manager: HostFacts, image_arch: str) -> None:
    """The hosts file against what the engines say: one LabError line for the first thing wrong."""
    for fact in facts:
        if fact.error:
            raise LabError(f"host {fact.docker_host} is unreachable: {fact.error}")
    for fact in facts:
        if fact.swarm_state != "active" or not fact.node_id:
            raise LabError(f"host {fact.docker_host} is not a swarm member (swarm state: {fact.swarm_state or 'none'}); "
                           f"join it first: docker swarm join-token worker on the manager")
        if manager.cluster_id and fact.cluster_id and fact.cluster_id != manager.cluster_id:
            raise LabError(f"host {fact.docker_host} is in another swarm (cluster {fact.cluster_id[:12]}) than "
                           f"this engine's (cluster {manager.cluster_id[:12]})")
    for fact in facts:
        if normalise_arch(fact.arch) != normalise_arch(image_arch):
            raise LabError(f"host {fact.docker_host} runs {normalise_arch(fact.arch)}; the lab's images are "
                           f"{normalise_arch(image_arch)} (build them on a {normalise_arch(fact.arch)} machine, "
                           "or leave this host out)")


# ------------------------------------------------------------------ placement
def placement(topology: Topology, nodes: list[SwarmNode], manager_id: str, mode: str) -> dict[str, list[str]]:
    """Placement constraints per service. Infrastructure, the schema job and the API nodes stay on the lab's
    manager (the database volume lives there; API URLs are this machine's); engines and executors are pinned
    one by one round-robin across the usable nodes (workers first, `spread`), all on the manager (`pack`), or
    left to swarm among the nodes labelled mistral-lab.<role>=true (`labels`). Pinning by node id keeps a
    node's identity: executor-2 runs on the same machine after every restart."""
    on_manager = [f"node.id == {manager_id}"]
    plan = {name: list(on_manager) for name in (*INFRA, "db-init")}
    usable = [n for n in nodes if n.ready]
    if manager_id not in {n.id for n in usable}:
        raise LabError("this engine's swarm node is not ready and active: it must run the lab's database")
    order = [n for n in sorted(usable, key=lambda n: n.hostname) if n.id != manager_id] + \
        [n for n in usable if n.id == manager_id]
    for name, role in topology.mistral_nodes():
        if role == "api" or mode == "pack":
            plan[name] = list(on_manager)
        elif mode == "spread":
            index = int(name.rsplit("-", 1)[1]) - 1
            plan[name] = [f"node.id == {order[index % len(order)].id}"]
        elif mode == "labels":
            key = ROLE_LABEL.format(role=role)
            if not any(n.labels.get(key) == "true" for n in usable):
                raise LabError(f"--placement labels: no ready swarm node has the label {key}=true "
                               f"(docker node update --label-add {key}=true NODE)")
            plan[name] = [f"node.labels.{key} == true"]
        else:
            raise LabError(f"unknown placement {mode!r}")
    return plan


# ------------------------------------------------------------------ image distribution
def plan_image_copies(wanted: dict[str, str], present: dict[str, dict[str, str | None]]) -> dict[str, list[str]]:
    """Which image tags each host still needs: `wanted` is tag -> image id on the build host, `present` is
    host -> tag -> the id that host has (None: absent). Tags carry a hash of the image's inputs, so a host
    with the same id has it already and nothing is copied twice."""
    return {host: [tag for tag in sorted(wanted) if have.get(tag) != wanted[tag]]
            for host, have in present.items()
            if any(have.get(tag) != wanted[tag] for tag in wanted)}


def images_by_host(document: dict, host_ids: list[str]) -> dict[str, set[str]]:
    """The images each host can be asked to run: those of the services pinned to it (`node.id == X`) and of
    every service not pinned by id (labels may send it anywhere). The infrastructure image (1 GB) stays on the
    manager, the only node that runs the database, broker and witness."""
    needed: dict[str, set[str]] = {host: set() for host in host_ids}
    for service in document.get("services", {}).values():
        pinned = [c.split("==", 1)[1].strip() for c in service.get("deploy", {}).get("placement", {})
                  .get("constraints", []) if c.replace(" ", "").startswith("node.id==")]
        for host in host_ids:
            if not pinned or host in pinned:
                needed[host].add(service["image"])
    return needed


# ------------------------------------------------------------------ the stack file
def content_name(stack: str, what: str, content: bytes) -> str:
    """A config's name carries its content hash: a swarm config cannot be changed, only replaced."""
    return f"{stack}_{what}_{hashlib.sha256(content).hexdigest()[:10]}"


def _host_port(target: int) -> list[dict]:
    # Host-mode publishing: the port is bound on the node running the task (no routing mesh, no VIP), so
    # each API node keeps its own URL; the engine picks a free port.
    return [{"target": target, "protocol": "tcp", "mode": "host"}]


def stack_document(topology: Topology, images: Images, passwords: dict[str, str], state: Path,
                   constraints: dict[str, list[str]], witness_dir: Path) -> dict:
    """The compose document of the compose backend, turned into a swarm stack (compose file 3.8): one service
    per node with one replica and no restarts (a killed node stays down until the nemesis or `heal` starts
    it), endpoint mode dnsrr (the service name resolves to the task's own address, so a partition by
    address cuts exactly one node), host-mode ports, configs instead of bind mounts, an attachable overlay."""
    source = compose_document(topology, images, passwords, warm_start=warm_start_decision(state))["services"]
    stack = topology.name
    files = {"mistral_conf": state / "mistral.conf", "rabbitmq_conf": state / "rabbitmq.conf",
             "witness_server": witness_dir / "witness_server.py",
             "queue_consumers": witness_dir / "queue_consumers.py"}
    configs = {key: {"name": content_name(stack, key, path.read_bytes()) if path.exists() else f"{stack}_{key}",
                     "file": str(path)} for key, path in files.items()}
    mounts = {"./mistral.conf:/etc/mistral/mistral.conf:ro": [("mistral_conf", "/etc/mistral/mistral.conf")],
              "./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro": [("rabbitmq_conf", "/etc/rabbitmq/rabbitmq.conf")],
              f"{witness_dir}:/opt/witness:ro": [("witness_server", "/opt/witness/witness_server.py"),
                                                 ("queue_consumers", "/opt/witness/queue_consumers.py")]}
    services = {}
    for name, service in source.items():
        out = {key: value for key, value in service.items()
               if key not in ("container_name", "depends_on", "restart", "init", "ports", "volumes")}
        out["volumes"] = [v for v in service.get("volumes", []) if v not in mounts]
        if not out["volumes"]:
            del out["volumes"]
        used = [pair for v in service.get("volumes", []) if v in mounts for pair in mounts[v]]
        if used:
            out["configs"] = [{"source": key, "target": target, "mode": 0o444} for key, target in used]
        if "ports" in service:
            out["ports"] = _host_port(API_PORT if name.startswith("api-") else WITNESS_PORT)
        role = service["labels"][LABEL_ROLE]
        out["deploy"] = {
            "mode": "replicated", "replicas": 1, "endpoint_mode": "dnsrr",
            # db-init retries until the database answers: swarm has no depends_on
            "restart_policy": ({"condition": "on-failure", "delay": "3s", "max_attempts": 60} if role == "db-init"
                               else {"condition": "none"}),
            "placement": {"constraints": constraints.get(name, [])},
            "labels": {LABEL_ROLE: role, LABEL_NODE: service["labels"][LABEL_NODE]},
        }
        services[name] = out
    return {"version": "3.8", "services": services,
            "networks": {"default": {"driver": "overlay", "attachable": True}},
            "volumes": {"dbdata": {}, "witness": {}}, "configs": configs}


def phase_document(document: dict, names: list[str]) -> dict:
    """The stack restricted to some services (deploys run in phases: infrastructure, schema, Mistral)."""
    return {**document, "services": {k: v for k, v in document["services"].items() if k in names}}


def task_state(task_state_: str, container_status: str | None) -> str:
    """A node's state as the lab names it (docker container states) from its newest task's state and, when
    the task has a container the lab can see, that container's own status (a paused container's task still
    says running)."""
    if container_status:
        return container_status
    if task_state_ in ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting"):
        return "created"
    if task_state_ == "running":
        return "running"
    return "exited"


def node_of_service(stack: str, service: str) -> str | None:
    prefix = f"{stack}_"
    return service[len(prefix):] if service.startswith(prefix) else None
