"""What a cluster is made of: node counts per role, database, Mistral version and config overrides."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cluster.errors import LabError


DEFAULT_MISTRAL_VERSION = "23.0.0"
# The oslo.messaging topic of each RPC role; a node's queue is "<topic>.<node name>".
RPC_TOPICS = {"engine": "mistral_engine", "executor": "mistral_executor", "notifier": "mistral_notifier"}
MISTRAL_ROLES = ("api", "engine", "executor", "notifier")
INFRA_ROLES = ("db", "broker", "witness")
DATABASES = ("mariadb", "postgres")
BACKENDS = ("compose", "swarm")        # what runs the containers (cluster.backends)
PLACEMENTS = ("spread", "pack", "labels")  # swarm: engines/executors across nodes, on one node, by node labels
MINIMUM = {"api": 1, "engine": 1, "executor": 1, "notifier": 0}
MAXIMUM = 32
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
SET_RE = re.compile(r"^(?P<section>[A-Za-z_][\w-]*)\.(?P<option>[A-Za-z_][\w-]*)=(?P<value>.*)$")


@dataclass
class Topology:
    name: str = "mistral-lab"
    apis: int = 1
    engines: int = 1
    executors: int = 1
    notifiers: int = 0
    db: str = "mariadb"
    mistral_version: str = DEFAULT_MISTRAL_VERSION
    mistral_src: str | None = None
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    backend: str = "compose"
    placement: str = "spread"           # swarm only
    hosts: str | None = None            # swarm only: the hosts file (one swarm node's DOCKER_HOST a line)

    def count(self, role: str) -> int:
        return getattr(self, role + "s")

    def with_count(self, role: str, count: int) -> "Topology":
        data = asdict(self)
        data[role + "s"] = count
        return Topology(**data)

    def node_names(self, role: str) -> list[str]:
        return [f"{role}-{i}" for i in range(1, self.count(role) + 1)]

    def mistral_nodes(self) -> list[tuple[str, str]]:
        """(node name, role) for every Mistral node, in a stable order."""
        return [(node, role) for role in MISTRAL_ROLES for node in self.node_names(role)]

    def validate(self) -> "Topology":
        if not NAME_RE.match(self.name):
            raise LabError(f"invalid name {self.name!r}: use lowercase letters, digits, '-' or '_' (max 41)")
        for role in MISTRAL_ROLES:
            validate_count(role, self.count(role))
        if self.db not in DATABASES:
            raise LabError(f"unknown database {self.db!r}: choose one of {', '.join(DATABASES)}")
        if self.mistral_src is not None and not Path(self.mistral_src).is_dir():
            raise LabError(f"--mistral-src {self.mistral_src}: not a directory")
        if self.backend not in BACKENDS:
            raise LabError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.placement not in PLACEMENTS:
            raise LabError(f"unknown placement {self.placement!r}: choose one of {', '.join(PLACEMENTS)}")
        if self.backend != "swarm" and (self.hosts is not None or self.placement != "spread"):
            raise LabError("--hosts and --placement need --backend swarm")
        if self.hosts is not None and not Path(self.hosts).is_file():
            raise LabError(f"--hosts {self.hosts}: no such file")
        return self

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Topology":
        return cls(**json.loads(path.read_text()))


def validate_role(role: str) -> str:
    if role not in MISTRAL_ROLES:
        raise LabError(f"unknown role {role!r}: choose one of {', '.join(MISTRAL_ROLES)}")
    return role


def validate_count(role: str, count: int) -> int:
    validate_role(role)
    if not MINIMUM[role] <= count <= MAXIMUM:
        raise LabError(f"invalid {role} count {count}: must be between {MINIMUM[role]} and {MAXIMUM}")
    return count


def parse_overrides(items: list[str]) -> dict[str, dict[str, str]]:
    """`section.option=value` items into {section: {option: value}} (for mistral.conf)."""
    overrides: dict[str, dict[str, str]] = {}
    for item in items:
        match = SET_RE.match(item.strip())
        if not match:
            raise LabError(f"malformed --set {item!r}: expected section.option=value, e.g. "
                           "action_heartbeat.check_interval=5")
        overrides.setdefault(match["section"], {})[match["option"]] = match["value"]
    return overrides
