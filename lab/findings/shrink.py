"""`mistral-lab shrink RUN_DIR`: the smallest spec that still shows a stored run's defect.

    load_run(run_dir, cls=None, kind=None) -> Original     the run's spec, its target anomaly, the faults that ran
    recorded_steps(events) -> [step]                       applied faults -> an explicit `nemesis.schedule`
    ddmin(items, test) -> items                            Zeller's delta debugging (1-minimal for monotone tests)
    role_needs(steps) -> {role: count}                     what the remaining faults' targets need of the topology
    Shrinker(original, replay, budget, tries, out_dir).run() -> ShrinkResult

The search first pins the run's fault schedule: the faults that actually started (from the history's nemesis
events: fault, target, options, start offset, duration and the fault's own seed) become an explicit schedule
(`nemesis: {schedule: [...]}`, nemesis.schedule.PinnedSchedule), so a replay applies exactly those. Then, each
phase starting from the smallest spec that reproduced so far:

    faults    ddmin over the schedule's steps
    time      time_limit_s halved while it reproduces (never below the end of the last remaining fault)
    load      workload concurrency halved down to 1, then the rate halved down to 0.5/s
    kinds     ddmin over the reference workload's kinds (at least one)
    topology  fewer executors, engines, apis and notifiers, halving down to what the faults' targets need

Every candidate is judged by `replay(spec)`: a bool, or a Replayed (a real run through lab.run.run_test, see
RunReplay) whose results.json has a defect anomaly of the target class / kind (the signature matching of
lab.findings.catalogue). A candidate gets up to `tries` runs and reproduces when one of them does; `budget`
bounds the runs of the whole search. The smallest reproducing spec is rewritten to OUT/smallest.yaml after every success,
each candidate is one line of OUT/shrink.log.jsonl, so Ctrl-C or an exhausted budget keeps the best so far.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from cluster.errors import LabError
from history.faults import read_faults
from cluster.topology import MINIMUM, MISTRAL_ROLES
from lab.findings.catalogue import Signature
from lab.findings.replay import Try, read_results
from lab.spec import TestSpec, dump_spec, spec_from_run, validate_spec

T = TypeVar("T")
DEFAULT_BUDGET = 12
MIN_RATE = 0.5          # the rate phase stops here (starts per second)
LOG_FILE = "shrink.log.jsonl"
SMALLEST_FILE = "smallest.yaml"
TOPOLOGY_ORDER = ("executor", "engine", "api", "notifier")
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
    missing = [n for n in ("test.yaml", "results.json", "history.jsonl") if not (run_dir / n).is_file()]
    if missing:
        raise LabError(f"{run_dir} is not a run directory (no {', '.join(missing)})")
    results = read_results(run_dir)
    if not results:
        raise LabError(f"{run_dir}/results.json is unreadable: check the run first (mistral-lab check {run_dir})")
    target = choose_target(results.get("anomalies") or [], cls, kind, where=f"run {run_dir}")
    spec = spec_from_run(run_dir)
    try:
        events = read_history(run_dir / "history.jsonl")
    except Exception as exc:  # noqa: BLE001 - a HistoryError names file:line
        raise LabError(f"{run_dir}/history.jsonl: {exc}") from None
    return Original(run_dir, spec, target, recorded_steps(events))


# ---------------------------------------------------------------- specs as candidates
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


# ---------------------------------------------------------------- delta debugging
def ddmin(items: Sequence[T], test: Callable[[list[T]], bool]) -> list[T]:
    """Zeller's ddmin: a subsequence of `items` (which must pass `test`) that still passes, 1-minimal when
    `test` is monotone: dropping any single element of the result fails. Tries the n parts, then their
    complements, doubling n when neither passes; the empty list is tried once a single element is left.
    Repeated configurations are not re-tested. `test` may raise to stop the search (the caller keeps the best).
    """
    seen: dict[tuple[int, ...], bool] = {}

    def passes(indices: list[int]) -> bool:
        key = tuple(indices)
        if key not in seen:
            seen[key] = bool(test([items[i] for i in indices]))
        return seen[key]

    current = list(range(len(items)))
    n = 2
    while current:
        if len(current) == 1:
            return [] if passes([]) else [items[i] for i in current]
        n = min(n, len(current))
        chunks = _split(current, n)
        reduced = False
        for chunk in chunks:  # a part alone
            if len(chunks) > 1 and passes(chunk):
                current, n, reduced = chunk, 2, True
                break
        if not reduced:
            for chunk in chunks:  # everything but a part
                complement = [i for i in current if i not in chunk]
                if passes(complement):
                    current, n, reduced = complement, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    return [items[i] for i in current]


def _split(indices: list[int], n: int) -> list[list[int]]:
    size, extra = divmod(len(indices), n)
    chunks, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        chunks.append(indices[start:end])
        start = end
    return [c for c in chunks if c]


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
    """A real replay: lab.run.run_test on a fresh cluster (up, load + faults, down, check), judged by the
    target's signature in the run's results.json."""

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


# ---------------------------------------------------------------- the search
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


__all__ = ["DEFAULT_BUDGET", "Original", "Replayed", "RunReplay", "ShrinkResult", "Shrinker", "Stop", "Target",
           "choose_target", "ddmin", "describe", "kinds_of", "load_log", "load_run", "load_smallest", "pinned",
           "recorded_steps", "role_needs"]
