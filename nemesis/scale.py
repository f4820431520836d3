"""Scale a role up or down while workflows run (graceful SIGTERM or abrupt SIGKILL on the way down); heal
returns the role to its count from before the first scale fault. That baseline is kept in the lab's state dir
so `mistral-lab heal` restores it even after the lab process died mid-fault."""
from __future__ import annotations

import json
import random
from typing import Any, TYPE_CHECKING

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES, validate_count
from nemesis.base import NODE_RE, Fault, Opt, register

if TYPE_CHECKING:  # only for annotations: the fault and workload modules load without Docker
    from cluster.control import Cluster

BASELINE_FILE = "nemesis-scale.json"


def load_baseline(cluster: Cluster) -> dict[str, int]:
    path = cluster.state_dir / BASELINE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def save_baseline(cluster: Cluster, baseline: dict[str, int]) -> None:
    path = cluster.state_dir / BASELINE_FILE
    if baseline:
        path.write_text(json.dumps(baseline, sort_keys=True))
    else:
        path.unlink(missing_ok=True)


def restore_baseline(cluster: Cluster, roles: list[str] | None = None) -> dict[str, list[str]]:
    """Scale roles back to their recorded baseline; returns role -> nodes added or removed."""
    baseline = load_baseline(cluster)
    changed = {}
    for role in list(baseline):
        if roles is not None and role not in roles:
            continue
        nodes = cluster.scale(role, baseline.pop(role))
        save_baseline(cluster, baseline)  # after each role, so a crash part-way keeps what is left to do
        if nodes:
            changed[role] = nodes
    return changed


def _scalable(role: str, count: int, delta: int) -> bool:
    """A role a random scale may pick: it has nodes (or gains some) and stays within its limits."""
    try:
        validate_count(role, count + delta)
    except LabError:
        return False
    return count > 0 or delta > 0


@register
class Scale(Fault):
    name = "scale"
    summary = "add or remove nodes of a role (graceful or kill=true); heal restores the original count"
    OPTIONS = {
        "delta": Opt(int, -1, "nodes to add (>0) or remove (<0)", low=-8, high=8),
        "kill": Opt(bool, False, "remove with SIGKILL instead of SIGTERM"),
        "drain": Opt(bool, False, "before SIGTERM, wait until a removed executor runs no witnessed action"),
    }
    ROLES = MISTRAL_ROLES
    DEFAULT_TARGET = "random"

    def validate(self) -> None:
        if self.options["delta"] == 0:
            raise LabError("scale: option delta must not be 0")
        if "," in self.target or NODE_RE.match(self.target) or self.target.startswith("random:"):
            raise LabError(f"scale takes a role ({', '.join(self.ROLES)}) or random as --target, "
                           f"not {self.target!r}")
        self.role: str | None = None

    def start(self, cluster: Cluster, rng: random.Random) -> dict[str, Any]:
        topology = cluster.topology()
        role = self.target
        if role == "random":
            role = rng.choice([r for r in self.ROLES if _scalable(r, topology.count(r), self.options["delta"])])
        before = topology.count(role)
        after = validate_count(role, before + self.options["delta"])
        baseline = load_baseline(cluster)
        baseline.setdefault(role, before)
        save_baseline(cluster, baseline)
        self.role = role
        changed = cluster.scale(role, after, kill=self.options["kill"], drain=self.options["drain"])
        how = "added" if after > before else ("killed" if self.options["kill"] else "stopped")
        return {"role": role, "from": before, "to": after, how: changed}

    def heal(self, cluster: Cluster) -> dict[str, Any]:
        if self.role is None:
            return {"restored": {}}
        changed = restore_baseline(cluster, [self.role])
        self.role = None
        return {"restored": changed}

    def describe(self) -> str:
        delta = self.options["delta"]
        verb = f"add {delta}" if delta > 0 else f"remove {-delta} ({'kill' if self.options['kill'] else 'stop'})"
        return f"scale {self.target}: {verb}, restore on heal"
