"""The stored run a shrink starts from, and the replays that judge its candidates (lab.findings.shrink).

    load_run(run_dir, cls=None, kind=None) -> Original     the run's spec, its target anomaly, the faults that ran
    recorded_steps(events) -> [step]                       applied faults -> an explicit `nemesis.schedule`
    RunReplay(target, store)(spec) -> Replayed             a real run (lab.run.run_test), judged by the target
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from cluster.errors import LabError
from cluster.topology import MISTRAL_ROLES
from history.faults import read_faults
from history.run_dir import read_results
from lab.findings.known_defects import Signature
from lab.findings.replay import Try
from lab.spec import TestSpec, spec_from_run
from history.run_dir import HISTORY_FILE, RESULTS_FILE, SPEC_FILE

NEMESIS_RECORD_KEYS = ("at_s", "target", "options", "duration_s", "seed")


# ---------------------------------------------------------------- the stored run
@dataclass(frozen=True)
class Target:
    """The anomaly a candidate must still show: a defect of this class (and kind, when given)."""

    cls: str
    kind: str | None = None

    def matches(self, anomaly: dict[str, Any]) -> bool:
        return bool(anomaly.get("defect")) and Signature(self.cls, self.kind).matches(anomaly)

    def shown_by(self, results: dict[str, Any]) -> bool:
        return any(self.matches(a) for a in results.get("anomalies") or [] if isinstance(a, dict))

    @property
    def label(self) -> str:
        return f"{self.cls}/{self.kind}" if self.kind else self.cls


@dataclass
class Original:
    run_dir: Path
    spec: TestSpec          # the run's resolved spec, as it ran
    target: Target
    steps: list[dict[str, Any]]  # the faults that started, as explicit schedule steps


def choose_target(anomalies: list[dict[str, Any]], cls: str | None = None, kind: str | None = None,
                  where: str = "the run") -> Target:
    """The first defect anomaly (of `cls` / `kind` when given); a LabError when there is none."""
    defects = [a for a in anomalies if isinstance(a, dict) and a.get("defect")]
    if not defects:
        raise LabError(f"{where} shows no defect anomaly: nothing to shrink")
    for anomaly in defects:
        if (cls is None or anomaly.get("class") == cls) and (kind is None or anomaly.get("kind") == kind):
            return Target(str(anomaly.get("class")), kind if kind is not None else anomaly.get("kind"))
    shown = ", ".join(sorted({f"{a.get('class')}/{a.get('kind')}" for a in defects}))
    wanted = "/".join(p for p in (cls or "*", kind) if p)
    raise LabError(f"{where} has no defect anomaly {wanted} (its defects: {shown})")


def recorded_steps(events: Sequence[Any]) -> list[dict[str, Any]]:
    """The faults that actually started, in order, as explicit schedule steps (read by history.faults, the one
    reader of fault windows). A scale on a `random` role is pinned to the role it picked, so a replay on a
    smaller topology scales the same role."""
    steps: list[dict[str, Any]] = []
    for window in read_faults(events):
        if not window.applied:
            continue  # the start failed: nothing ran
        plan = window.plan
        step = {"at_s": float(plan.get("at_s") or 0.0), "fault": window.fault, "target": window.target,
                "options": dict(window.options), "duration_s": float(plan.get("duration_s") or 0.0),
                "seed": int(plan.get("seed") or 0)}
        if window.fault == "scale" and str(step["target"] or "random").startswith("random") \
                and window.done.get("role") in MISTRAL_ROLES:
            step["target"] = window.done["role"]
        steps.append(step)
    return steps


def load_run(run_dir: Path, cls: str | None = None, kind: str | None = None) -> Original:
    """A stored run's spec, target anomaly and applied faults; one LabError line when it cannot be shrunk."""
    from history.reader import read_history

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LabError(f"{run_dir} is not a run directory (no such directory)")
    missing = [n for n in (SPEC_FILE, RESULTS_FILE, HISTORY_FILE) if not (run_dir / n).is_file()]
    if missing:
        raise LabError(f"{run_dir} is not a run directory (no {', '.join(missing)})")
    results = read_results(run_dir)
    if not results:
        raise LabError(f"{run_dir}/results.json is unreadable: check the run first (mistral-lab check {run_dir})")
    target = choose_target(results.get("anomalies") or [], cls, kind, where=f"run {run_dir}")
    spec = spec_from_run(run_dir)
    try:
        events = read_history(run_dir / HISTORY_FILE)
    except Exception as exc:  # noqa: BLE001 - a HistoryError names file:line
        raise LabError(f"{run_dir}/history.jsonl: {exc}") from None
    return Original(run_dir, spec, target, recorded_steps(events))


# ---------------------------------------------------------------- replays
@dataclass
class Replayed:
    """One replay: did it show the target, where is the run; truthy when it reproduced. An inconclusive run
    (crashed, cut short or UNKNOWN without showing the target: lab.findings.replay.Try.decided) refutes nothing."""

    reproduced: bool
    run_dir: str | None = None
    interrupted: bool = False
    lab_error: str | None = None
    valid: Any = None
    conclusive: bool = True

    def __bool__(self) -> bool:
        return self.reproduced


class RunReplay:
    """A real replay through `run_fn` (lab.run.run_test on a fresh cluster, or lab.warm.WarmLabs.run on a reset
    one), judged by the target's signature in the run's results.json."""

    def __init__(self, target: Target, store: Path, lab_name: str | None = None,
                 run_fn: Callable[..., Any] | None = None) -> None:
        self.target, self.store = target, Path(store)
        self.lab_name = lab_name or f"shrink-{os.getpid()}"
        self.run_fn = run_fn

    def __call__(self, spec: TestSpec) -> Replayed:
        if self.run_fn is None:
            from lab.run import run_test

            self.run_fn = run_test
        outcome = self.run_fn(spec, self.store, lab_name=self.lab_name)
        run_dir = getattr(outcome, "run_dir", None)
        results = read_results(run_dir)
        one = Try(seed=spec.seed, run_dir=str(run_dir) if run_dir else None, matched=self.target.shown_by(results),
                  valid=results.get("valid"), lab_error=getattr(outcome, "lab_error", None),
                  interrupted=bool(getattr(outcome, "interrupted", False)))
        # Shrink's own rule, not findings' (faults gate required): a shown anomaly counts, as does a decided run.
        return Replayed(one.matched, one.run_dir, one.interrupted, one.lab_error, one.valid,
                        one.matched or one.decided)


__all__ = ["Original", "Replayed", "RunReplay", "Target", "choose_target", "load_run", "recorded_steps"]
