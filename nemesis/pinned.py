"""The steps of an explicit (pinned) fault schedule: validated and normalised before any run.

Apart from nemesis.schedule (whose PinnedSchedule applies them) so the spec loader checks steps on its own.
"""
from __future__ import annotations

from typing import Any, Mapping

from cluster.errors import LabError
from nemesis.base import make_fault

STEP_FIELDS = ("at_s", "fault", "target", "options", "duration_s", "seed")


def pinned_steps(steps: Any) -> list[dict[str, Any]]:
    """Validated, normalised steps of an explicit schedule; one LabError naming the step otherwise."""
    if not isinstance(steps, list):
        raise LabError("an explicit schedule is a list of steps {at_s, fault, target, options, duration_s, seed}")
    out: list[dict[str, Any]] = []
    for number, raw in enumerate(steps, 1):
        where = f"schedule step {number}"
        if not isinstance(raw, Mapping) or "fault" not in raw:
            raise LabError(f"{where}: a mapping with at least fault, at_s and duration_s")
        unknown = sorted(set(raw) - set(STEP_FIELDS))
        if unknown:
            raise LabError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(STEP_FIELDS)})")
        step = {"at_s": raw.get("at_s"), "fault": raw["fault"], "target": raw.get("target"),
                "options": dict(raw.get("options") or {}), "duration_s": raw.get("duration_s"),
                "seed": raw.get("seed", 0)}
        for key in ("at_s", "duration_s"):
            value = step[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                    or (key == "duration_s" and value == 0):
                raise LabError(f"{where}: {key} must be a number of seconds"
                               f"{' > 0' if key == 'duration_s' else ' >= 0'}")
            step[key] = float(value)
        if isinstance(step["seed"], bool) or not isinstance(step["seed"], int):
            raise LabError(f"{where}: seed must be an integer")
        if step["target"] is not None and not isinstance(step["target"], str):
            raise LabError(f"{where}: target must be a string (a node, a role or random)")
        try:
            make_fault(step["fault"], step["options"], step["target"])
        except LabError as exc:
            raise LabError(f"{where}: {exc}") from None
        if out and step["at_s"] < out[-1]["at_s"] + out[-1]["duration_s"]:
            raise LabError(f"{where}: starts at {step['at_s']:g} s, before step {number - 1} is healed "
                           f"({out[-1]['at_s'] + out[-1]['duration_s']:g} s): steps run one at a time, in order")
        out.append(step)
    return out
