"""The shared fault interface, option parsing, target resolution and the fault registry.

A fault is one object per injection: `start(cluster, rng)` first resolves and checks everything (targets,
options against the live cluster) and only then changes the cluster; `heal(cluster)` undoes it, also after a
partial start; `describe()` says in one line what it does. Options and targets are checked when the fault is
built, so bad input fails before anything reaches Docker.
"""
from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, TYPE_CHECKING

from cluster.errors import LabError
from cluster.keyvalue import parse_key_values
from cluster.topology import MISTRAL_ROLES

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster, Node

INFRA_TARGETS = ("broker", "db")
TARGET_ROLES = (*MISTRAL_ROLES, *INFRA_TARGETS)       # every role a fault may touch; never the witness
NODE_RE = re.compile(r"^(?P<role>api|engine|executor|notifier)-(?P<index>[1-9]\d*)$")
NEVER_TARGETS = ("witness", "db-init")


# ------------------------------------------------------------------ options
@dataclass(frozen=True)
class Opt:
    """One fault option: its type, default, allowed range or choices, and a help line."""

    kind: type                        # int, float, bool or str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None          # inclusive bounds for numbers
    high: float | None = None
    pattern: str | None = None        # for strings

    def parse(self, fault: str, key: str, raw: object) -> Any:
        value = self._convert(fault, key, raw)
        if self.choices and value not in self.choices:
            raise LabError(f"{fault}: option {key}={raw!r} must be one of {', '.join(self.choices)}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise LabError(f"{fault}: option {key}={raw!r} must be between {self.low:g} and {self.high:g}")
        if self.pattern and not re.fullmatch(self.pattern, str(value)):
            raise LabError(f"{fault}: option {key}={raw!r} is malformed ({self.help})")
        return value

    def _convert(self, fault: str, key: str, raw: object) -> Any:
        if self.kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise LabError(f"{fault}: option {key}={raw!r} must be true or false")
        try:
            return self.kind(raw)
        except (TypeError, ValueError):
            raise LabError(f"{fault}: option {key}={raw!r} must be a{'n' if self.kind is int else ''} "
                           f"{self.kind.__name__}") from None


def parse_options(fault: str, spec: Mapping[str, Opt], given: Mapping[str, object]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(spec))
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise LabError(f"{fault}: unknown option {unknown[0]!r} (options: {known})")
    return {key: opt.parse(fault, key, given[key]) if key in given else opt.default for key, opt in spec.items()}


def parse_option_items(items: list[str]) -> dict[str, str]:
    """`k=v` strings from the command line into a dict."""
    return parse_key_values(items, "--option", "probability=0.3")


# ------------------------------------------------------------------ targets
def check_target_syntax(target: str | None, roles: tuple[str, ...]) -> str | None:
    """Offline check of a target: node names, roles, `random` or `random:<role>`, comma-separated."""
    if target is None:
        return None
    target = target.strip()
    if target == "random":
        return target
    if target.startswith("random:"):
        _check_role(target.split(":", 1)[1], roles, target)
        return target
    for item in target.split(","):
        item = item.strip()
        if item in NEVER_TARGETS:
            raise LabError(f"{item} is never a fault target")
        match = NODE_RE.match(item)
        role = match["role"] if match else item
        if role not in TARGET_ROLES:
            raise LabError(f"unknown target {item!r}: use a node name (engine-1), a role "
                           f"({', '.join(roles)}) or random")
        _check_role(role, roles, item)
    return target


def _check_role(role: str, roles: tuple[str, ...], given: str) -> None:
    if role in NEVER_TARGETS:
        raise LabError(f"{role} is never a fault target")
    if role not in roles:
        raise LabError(f"target {given!r} is not allowed here: choose among {', '.join(roles)} nodes")


def resolve_targets(cluster: Cluster, target: str, roles: tuple[str, ...], rng: random.Random,
                    running_only: bool = True) -> list[Node]:
    """The cluster nodes a target names; LabError (before anything changes) when one does not exist."""
    nodes = [n for n in cluster.nodes() if n.role not in NEVER_TARGETS]
    by_name = {n.name: n for n in nodes}
    if target == "random" or target.startswith("random:"):
        wanted = roles if target == "random" else (target.split(":", 1)[1],)
        eligible = [n for n in nodes if n.role in wanted and (n.running or not running_only)]
        if not eligible:
            raise LabError(f"target {target}: no {'running ' if running_only else ''}node to choose from")
        return [rng.choice(eligible)]
    chosen: list[Node] = []
    for item in (i.strip() for i in target.split(",")):
        if item in by_name:
            found = [by_name[item]]
        elif item in TARGET_ROLES and not NODE_RE.match(item):
            found = [n for n in nodes if n.role == item]
            if not found:
                raise LabError(f"target {item!r}: lab {cluster.name!r} has no {item} node")
        else:
            raise LabError(f"no node {item!r} in lab {cluster.name!r} (nodes: {', '.join(by_name) or 'none'})")
        chosen += [n for n in found if n not in chosen]
    idle = [n.name for n in chosen if running_only and not n.running]
    if idle:
        raise LabError(f"target {', '.join(idle)} is not running (state: "
                       f"{', '.join(n.state for n in chosen if n.name in idle)}); heal or start it first")
    return chosen


# ------------------------------------------------------------------ the interface
@dataclass
class Fault(ABC):
    """One injection of one fault. Subclasses set `name`, `OPTIONS`, `ROLES` and `DEFAULT_TARGET`."""

    given_options: Mapping[str, object] = field(default_factory=dict)
    target: str | None = None

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Opt]] = {}
    ROLES: ClassVar[tuple[str, ...]] = ()          # roles a target may name; () = takes no target
    DEFAULT_TARGET: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        self.options = parse_options(self.name, self.OPTIONS, self.given_options)
        if self.target is not None and not self.ROLES:
            raise LabError(f"{self.name} takes no --target")
        self.target = check_target_syntax(self.target or self.DEFAULT_TARGET, self.ROLES)
        self.validate()

    def validate(self) -> None:
        """Extra offline checks across options; raise LabError."""

    @abstractmethod
    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        """Resolve and check first, then inject; returns what was done to which node."""

    @abstractmethod
    def heal(self, cluster: Cluster) -> dict[str, Any]:
        """Undo whatever start did (also a partial start); idempotent."""

    @abstractmethod
    def describe(self) -> str:
        """One line: what this fault does, to which target."""

    def _targets(self, cluster: Cluster, rng: random.Random, running_only: bool = True) -> list[Node]:
        if self.target is None:
            raise LabError(f"{self.name} needs a --target")
        return resolve_targets(cluster, self.target, self.ROLES, rng, running_only)


FaultFactory = Callable[..., Fault]
FAULTS: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    FAULTS[cls.name] = cls
    return cls


def make_fault(name: str, options: Mapping[str, object] | None = None, target: str | None = None) -> Fault:
    """Build a fault from its registry name; LabError on an unknown fault, option or target.

    The registry is full here without importing anything: Python ran nemesis/__init__.py, which imports every
    fault module, before this module (an `import nemesis` here was an import cycle)."""
    if name not in FAULTS:
        raise LabError(f"unknown fault {name!r}: choose one of {', '.join(sorted(FAULTS))}")
    return FAULTS[name](dict(options or {}), target)


def exec_script(cluster: Cluster, node: str, script: str) -> str:
    """Run a shell script as root inside a node; LabError with its last line when it fails."""
    return exec_command(cluster, node, ["sh", "-c", script])


def exec_command(cluster: Cluster, node: str, argv: list[str]) -> str:
    """Run a command inside a node; LabError with its last line when it fails."""
    try:
        code, output = cluster.exec(node, argv)
    except Exception as exc:  # docker APIError: paused or gone container
        raise LabError(f"cannot run a command in {node}: {str(exc).splitlines()[0][:200]}") from exc
    if code != 0:
        last = output.strip().splitlines()[-1:] or [f"exit {code}"]
        raise LabError(f"command failed in {node}: {last[0][:300]}")
    return output
