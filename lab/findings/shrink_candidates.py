"""Specs as shrink candidates (lab.findings.shrink): a spec with its faults pinned, and the figures a shrink reduces.

    pinned(spec, steps) -> TestSpec        the spec with exactly these faults as an explicit `nemesis.schedule`
    role_needs(steps) -> {role: count}     what the remaining faults' targets need of the topology
    describe(spec) -> {figure: value}      the figures a summary compares
"""
from __future__ import annotations

import copy
import json
from typing import Any

from cluster.topology import MINIMUM, MISTRAL_ROLES
from lab.spec import TestSpec


def pinned(spec: TestSpec, steps: list[dict[str, Any]]) -> TestSpec:
    """The spec with its nemesis replaced by exactly these steps (no faults: an empty nemesis)."""
    out = copy.deepcopy(spec)
    out.nemesis = {"schedule": copy.deepcopy(steps)} if steps else {}
    return out


def steps_of(spec: TestSpec) -> list[dict[str, Any]]:
    return list((spec.nemesis or {}).get("schedule") or [])


def role_count(spec: TestSpec, role: str) -> int:
    return spec.topology("shrink").count(role)


def role_needs(steps: list[dict[str, Any]]) -> dict[str, int]:
    """The fewest nodes per role the steps' targets need: executor-2 needs 2 executors, a target `notifier`
    one notifier, a scale removing n nodes of a role the role's minimum + n."""
    from nemesis.base import NODE_RE

    needs: dict[str, int] = {}

    def need(role: str, count: int) -> None:
        if role in MISTRAL_ROLES:
            needs[role] = max(needs.get(role, 0), count)

    for step in steps:
        target = str(step.get("target") or "")
        names = [target.split(":", 1)[1]] if target.startswith("random:") else \
            [t.strip() for t in target.split(",") if t.strip() and t.strip() != "random"]
        options = step.get("options") or {}
        source = options.get("from")
        if isinstance(source, str):
            names += [t.strip() for t in source.split(",") if t.strip()]
        for name in names:
            match = NODE_RE.match(name)
            need(match["role"], int(match["index"])) if match else need(name, 1)
        if step.get("fault") == "scale" and target in MISTRAL_ROLES:
            delta = int(options.get("delta", -1))
            need(target, MINIMUM[target] - delta if delta < 0 else 0)
    return needs


def kinds_of(spec: TestSpec) -> list[str] | None:
    """The reference workload's kinds (its default draw when the spec names none); None for other workloads."""
    if spec.workload.get("name") != "reference":
        return None
    from workloads.reference import REFERENCE_KINDS

    raw = (spec.workload.get("params") or {}).get("kinds")
    if raw is None:
        return list(REFERENCE_KINDS)
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [str(k).strip() for k in items if str(k).strip()]


def describe(spec: TestSpec) -> dict[str, Any]:
    """The figures a summary compares."""
    topology = spec.topology("shrink")
    return {"faults": len(steps_of(spec)),
            "time_limit_s": spec.time_limit_s, "concurrency": int(spec.workload.get("concurrency", 4)),
            "rate": spec.workload.get("rate", 10.0), "kinds": kinds_of(spec),
            "topology": {f"{r}s": topology.count(r) for r in MISTRAL_ROLES}}


def spec_key(spec: TestSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True, default=str)


__all__ = ["describe", "kinds_of", "pinned", "role_count", "role_needs", "spec_key", "steps_of"]
