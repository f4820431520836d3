"""`mistral-lab shrink RUN_DIR`: the smallest spec that still shows a stored run's defect.

This module is the search (`Shrinker(original, replay, budget, tries, out_dir).run() -> ShrinkResult`): pin the
run's fault schedule, then shrink faults, time, load, kinds and topology, each candidate a real replay. Its parts
live beside it: lab.findings.shrink_run (the stored run: load_run, recorded_steps, the target, RunReplay),
lab.findings.shrink_candidates (specs as candidates: pinned, role_needs, describe) and lab.findings.ddmin (delta
debugging, nothing shrink-specific). The search in full: docs/findings.md#shrinking-a-run-mistral-lab-shrink-run_dir.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cluster.errors import LabError
from cluster.topology import MINIMUM
from lab.findings.ddmin import ddmin
from lab.findings.shrink_candidates import describe, kinds_of, pinned, role_count, role_needs, spec_key, steps_of
from lab.findings.shrink_run import Original, Target
from lab.spec import TestSpec, dump_spec, validate_spec

DEFAULT_BUDGET = 12
MIN_RATE = 0.5          # the rate phase stops here (starts per second)
LOG_FILE = "shrink.log.jsonl"
SMALLEST_FILE = "smallest.yaml"
TOPOLOGY_ORDER = ("executor", "engine", "api", "notifier")


class Stop(Exception):
    """Ends the search: the budget is spent or the user interrupted; the best spec so far stands."""


@dataclass
class ShrinkResult:
    original: TestSpec
    smallest: TestSpec
    target: Target
    runs: int
    budget: int
    seconds: float
    stopped: str            # "done", "budget" or "interrupted"
    out_dir: Path
    log: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"target": self.target.label, "original": describe(self.original),
                "smallest": describe(self.smallest), "runs": self.runs, "budget": self.budget,
                "seconds": round(self.seconds, 1), "stopped": self.stopped,
                "smallest_spec": str(self.out_dir / SMALLEST_FILE), "log": str(self.out_dir / LOG_FILE)}


Say = Callable[[dict[str, Any]], None]  # one call per candidate (its log record)


class Shrinker:
    def __init__(self, original: Original, replay: Callable[[TestSpec], Any], out_dir: Path,
                 budget: int = DEFAULT_BUDGET, tries: int = 1, say: Say | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if budget < 1:
            raise LabError(f"--budget {budget}: must be at least 1 run")
        if tries < 1:
            raise LabError(f"--tries-per-candidate {tries}: must be at least 1")
        self.original, self.replay, self.out_dir = original, replay, Path(out_dir)
        self.budget, self.tries, self.say, self.clock = budget, tries, say or (lambda _: None), clock
        self.runs = 0
        self.log: list[dict[str, Any]] = []
        self.cache: dict[str, bool] = {}
        base = pinned(original.spec, original.steps)
        base.name = f"{original.spec.name}-shrunk"
        base.description = (f"Shrunk by `mistral-lab shrink` from {original.run_dir}: the smallest spec found that "
                            f"still shows the defect {original.target.label}. {original.spec.description}").strip()
        self.base = self.best = base  # the original, pinned: the stored run showed the target with it
        self.cache[spec_key(base)] = True

    # --- running ---------------------------------------------------------------------------------
    def run(self) -> ShrinkResult:
        started = self.clock()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / LOG_FILE).write_text("")
        self._record({"phase": "original", "candidate": f"the stored run, its {len(self.original.steps)} applied "
                      "fault(s) pinned as an explicit schedule", "spec": self.best.to_dict(),
                      "run_dir": str(self.original.run_dir), "run_dirs": [str(self.original.run_dir)],
                      "reproduced": True, "runs": 0, "seconds": 0.0})
        self._write_best()
        stopped = "done"
        try:
            for phase in (self._faults, self._time, self._load, self._kinds, self._topology):
                phase()
        except Stop as stop:
            stopped = str(stop)
        except KeyboardInterrupt:
            stopped = "interrupted"
        self._write_best()
        return ShrinkResult(self.base, self.best, self.original.target, self.runs, self.budget,
                            self.clock() - started, stopped, self.out_dir, self.log)

    def attempt(self, spec: TestSpec, phase: str, candidate: str) -> bool:
        """Replay one candidate up to `tries` times; it reproduces when one run shows the target. An
        inconclusive run is replaced by another (at most `tries` extra), as in `mistral-lab findings`."""
        key = spec_key(spec)
        if key in self.cache:
            return self.cache[key]
        try:
            validate_spec(spec.to_dict(), f"candidate ({candidate})")
            spec.topology("shrink").validate()
        except LabError:
            self.cache[key] = False
            return False
        began, runs, conclusive, reproduced, dirs, errors = self.clock(), 0, 0, False, [], []
        interrupted = False
        while conclusive < self.tries and runs < 2 * self.tries and self.runs < self.budget:
            self.runs += 1
            runs += 1
            result = self.replay(spec)
            reproduced = bool(result)
            if getattr(result, "run_dir", None):
                dirs.append(result.run_dir)
            if getattr(result, "lab_error", None):
                errors.append(result.lab_error)
            interrupted = bool(getattr(result, "interrupted", False))
            conclusive += 1 if getattr(result, "conclusive", True) else 0
            if reproduced or interrupted:
                break
        if runs == 0:
            raise Stop("budget")
        if interrupted:
            reproduced = False  # a cut-short run proves nothing either way
        inconclusive = runs - conclusive
        self._record({"phase": phase, "candidate": candidate, "spec": spec.to_dict(),
                      "run_dir": dirs[-1] if dirs else None, "run_dirs": dirs, "reproduced": reproduced,
                      "runs": runs, "seconds": round(self.clock() - began, 1),
                      **({"inconclusive": inconclusive} if inconclusive else {}),
                      **({"lab_errors": errors} if errors else {}), **({"interrupted": True} if interrupted else {})})
        if interrupted:
            raise Stop("interrupted")
        if reproduced:
            self.cache[key] = True
            self.best = spec
            self._write_best()
            return True
        if conclusive < self.tries and self.runs >= self.budget:
            raise Stop("budget")  # its tries were cut short: the search cannot go on
        if conclusive:  # not reproduced in its conclusive tries (a candidate with none is not cached)
            self.cache[key] = False
        return False

    # --- phases ----------------------------------------------------------------------------------
    def _faults(self) -> None:
        steps = steps_of(self.best)
        if not steps:
            return
        labels = {id(s): f"#{n}" for n, s in enumerate(steps, 1)}

        def test(kept: list[dict[str, Any]]) -> bool:
            dropped = [labels[id(s)] for s in steps if all(s is not k for k in kept)]
            what = (f"faults: drop {','.join(dropped)}, keep {','.join(labels[id(s)] for s in kept) or 'none'}"
                    f" ({len(kept)} of {len(steps)}; {_fault_names(kept)})")
            return self.attempt(pinned(self.best, kept), "faults", what)

        ddmin(steps, test)

    def _time(self) -> None:
        floor = max([s["at_s"] + s["duration_s"] for s in steps_of(self.best)] + [1.0])
        while True:
            current = self.best.time_limit_s
            candidate = float(max(math.ceil(floor), math.ceil(current / 2)))
            if candidate >= current:
                return
            spec = copy.deepcopy(self.best)
            spec.time_limit_s = candidate
            if not self.attempt(spec, "time", f"time_limit_s {current:g} -> {candidate:g}"):
                return

    def _load(self) -> None:
        while int(self.best.workload.get("concurrency", 4)) > 1:
            current = int(self.best.workload.get("concurrency", 4))
            spec = copy.deepcopy(self.best)
            spec.workload["concurrency"] = max(1, current // 2)
            if not self.attempt(spec, "load", f"concurrency {current} -> {spec.workload['concurrency']}"):
                break
        while True:
            rate = self.best.workload.get("rate", 10.0)
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate <= MIN_RATE:
                return
            spec = copy.deepcopy(self.best)
            spec.workload["rate"] = max(MIN_RATE, round(rate / 2, 3))
            if not self.attempt(spec, "load", f"rate {rate:g}/s -> {spec.workload['rate']:g}/s"):
                return

    def _kinds(self) -> None:
        kinds = kinds_of(self.best)
        if not kinds or len(kinds) < 2:
            return

        def test(kept: list[str]) -> bool:
            if not kept:
                return False  # the workload needs a kind: not worth a run
            spec = copy.deepcopy(self.best)
            spec.workload["params"] = {**(spec.workload.get("params") or {}), "kinds": ",".join(kept)}
            dropped = [k for k in kinds if k not in kept]
            return self.attempt(spec, "kinds", f"kinds: drop {','.join(dropped)}, keep {','.join(kept)}")

        ddmin(kinds, test)

    def _topology(self) -> None:
        for role in TOPOLOGY_ORDER:
            while True:
                current = role_count(self.best, role)
                floor = max(MINIMUM[role], role_needs(steps_of(self.best)).get(role, 0))
                if current <= floor:
                    break
                candidate = max(floor, current // 2)
                spec = copy.deepcopy(self.best)
                spec.cluster = {**spec.cluster, f"{role}s": candidate}
                if not self.attempt(spec, "topology", f"{role}s {current} -> {candidate}"):
                    break

    # --- output ----------------------------------------------------------------------------------
    def _record(self, record: dict[str, Any]) -> None:
        record = {"step": len(self.log), **record}
        self.log.append(record)
        with (self.out_dir / LOG_FILE).open("a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
        self.say(record)

    def _write_best(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / SMALLEST_FILE
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(dump_spec(self.best, {}))
        tmp.replace(path)


def _fault_names(steps: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s['fault']} {s.get('target') or ''}".strip() + f" @{s['at_s']:g}s" for s in steps) \
        or "no faults"


def load_log(out_dir: Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def load_smallest(out_dir: Path) -> TestSpec:
    from lab.spec import load_spec

    return load_spec(str(Path(out_dir) / SMALLEST_FILE))


__all__ = ["DEFAULT_BUDGET", "LOG_FILE", "SMALLEST_FILE", "ShrinkResult", "Shrinker", "Stop", "load_log",
           "load_smallest"]
