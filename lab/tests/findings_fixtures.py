"""Shared by the findings tests: a one-finding catalogue in tmp_path, anomalies, and a fake run function that
stores a results.json per try (no Docker)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from checker.promise import role_of
from lab.run import RunOutcome

SPEC = {"name": "x-spec", "cluster": {"apis": 1, "engines": 2, "executors": 2}, "workload": {"name": "reference"},
        "nemesis": {"faults": [{"fault": "scale", "target": "executor"}], "interval_s": 25, "duration_s": 15},
        "time_limit_s": 60, "seed": 8}
GOOD = {"id": "exec-stop", "title": "An executor stop abandons actions", "class": "abandoned-action",
        "kind": "heartbeat", "mistral_version": "23.0.0", "spec": "specs/x-spec.yaml", "seed": 8,
        "signature": {"class": "abandoned-action", "kind": "heartbeat", "fault": "scale", "role": "executor"},
        "breaks": "designed", "what_happens": "executor-2 stops; actions fail by heartbeat.",
        "why": "ExecutorServer.stop stops heartbeats first.", "first_seen": {"date": "2026-11-25", "run": "x"},
        "min_rate_basis": {"tries": 6, "reproduced": 5, "date": "2026-11-25"}, "tries": 0, "reproduced": 0}


def catalogue(tmp_path: Path, *findings: dict[str, Any], spec: dict[str, Any] | None = None) -> Path:
    directory = tmp_path / "findings"
    (directory / "specs").mkdir(parents=True, exist_ok=True)
    (directory / "specs" / "x-spec.yaml").write_text(yaml.safe_dump(spec or SPEC))
    for data in findings:
        (directory / f"{data['id']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return directory


def anomaly(cls: str = "abandoned-action", kind: str = "heartbeat", nodes=("executor-2",),
            labels=("#1 scale executor-2",), summary: str = "action execution a1 failed by the heartbeat check",
            defect: bool = True) -> dict[str, Any]:
    return {"class": cls, "kind": kind, "defect": defect, "inside": {"designed": True, "spec": False},
            "nodes": list(nodes), "faults": [fault_entry(label, nodes) for label in labels], "summary": summary}


def fault_entry(label: str, nodes=()) -> dict[str, Any]:
    """An anomaly's fault as the checker writes it: its label, name, and what of the anomaly it acted on (its own
    node, or "any <role>" when the fault's target is not one of the anomaly's nodes)."""
    parts = label.split()
    targets = [t.split(":", 1)[-1] for t in (parts[2].split(",") if len(parts) > 2 else [])]
    acted = [t if t in nodes else f"any {role_of(t)}" for t in targets]
    return {"label": label, "fault": parts[1] if len(parts) > 1 else None, "acted_on": acted, "inside": {},
            "reasons": {}}


# What a try of FakeRuns does: True reproduces, False does not, None is a lab failure (UNKNOWN, nothing checked),
# "faults" reproduces with its faults gate not passed, "unknown" reaches no verdict without the defect.
Hit = bool | str | None


class FakeRuns:
    """A run function that writes a stored results.json per try, as `pattern` says (cycled)."""

    def __init__(self, tmp_path: Path, pattern: list[Hit]) -> None:
        self.tmp_path, self.pattern, self.specs = tmp_path, pattern, []

    def __call__(self, spec, store: Path) -> RunOutcome:
        self.specs.append(spec)
        parent = store / spec.name
        run_dir = parent / f"try{len(list(parent.glob('try*'))) + 1}"  # unique, like the run store's
        run_dir.mkdir(parents=True)
        hit = self.pattern[(len(self.specs) - 1) % len(self.pattern)]
        if hit is None:
            (run_dir / "results.json").write_text(json.dumps({"valid": "unknown", "checkers": {}}))
            return RunOutcome(run_dir, False, lab_error="OSError: the build broke")
        shown = hit in (True, "faults")
        anomalies = [] if hit == "unknown" else [anomaly()] if shown else [anomaly(cls="stuck-execution",
                                                                                   kind="idle-task")]
        results = {"valid": "unknown" if hit == "unknown" else False, "anomalies": anomalies,
                   "anomaly_counts": {anomalies[0]["class"]: 1, "log": 2} if anomalies else {},
                   "gates": {"faults": {"valid": "unknown" if hit == "faults" else True}}}
        (run_dir / "results.json").write_text(json.dumps(results))
        return RunOutcome(run_dir, False)
