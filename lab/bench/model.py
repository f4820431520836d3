"""The benchmark's data: what to measure (topologies, workflows, parameters, the fault to run under) and what a
measurement says (samples, repeats, one result entry with its statistics). Pure Python: no HTTP, no Docker.

Definitions of every figure are in DEFINITIONS, which is also written into the result JSON.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Sequence

from cluster.errors import LabError
from cluster.topology import validate_count
from workloads.reference import MAX_N, REFERENCE_KINDS, ReferenceWorkflow

SCALED_ROLES = ("api", "engine", "executor")
TOPOLOGY_RE = re.compile(r"^\s*(\d+)x(\d+)x(\d+)\s*$")
MISTRAL_TIME_RESOLUTION_S = 1.0
MAX_CONCURRENCY = 64
DEFINITIONS = {
    "exec_time_s": "client-observed: POST /v2/executions sent -> first poll seeing SUCCESS (resolution ~poll_s)",
    "exec_time_mistral_s": "Mistral execution created_at -> updated_at (whole seconds)",
    "per_task_s": "Mistral task created_at -> finished_at (whole seconds; mean unbiased, percentiles quantised); "
                  "overhead_mean_s = mean - action sleep",
    "cpu_s_per_task": "CPU seconds of the lab's containers during the measurement / tasks completed",
    "net_cpu_s_per_task": "as cpu_s_per_task, minus each container's idle CPU (measured with no load for "
                          "each topology) over the same window: the CPU the workload itself caused",
    "tasks_per_s": "verified tasks / repeat wall clock (first start -> last completion seen), mean of repeats",
    "executions_per_s": "verified executions / repeat wall clock, mean of repeats",
    "spread": "per-repeat values: min, max, rel_range = (max - min) / mean",
    "cpu_pct": "100 = one core busy (docker stats convention)",
}


# ------------------------------------------------------------------ input
@dataclass(frozen=True)
class BenchTopology:
    apis: int
    engines: int
    executors: int

    @property
    def label(self) -> str:
        return f"{self.apis}x{self.engines}x{self.executors}"

    def count(self, role: str) -> int:
        return getattr(self, role + "s")


def parse_topology(text: str) -> BenchTopology:
    match = TOPOLOGY_RE.match(text)
    if not match:
        raise LabError(f"malformed topology {text!r}: expected APISxENGINESxEXECUTORS, e.g. 1x2x2")
    topology = BenchTopology(*(int(g) for g in match.groups()))
    for role in SCALED_ROLES:
        try:
            validate_count(role, topology.count(role))
        except LabError as exc:
            raise LabError(f"topology {text.strip()!r}: {exc}") from None
    return topology


def _items(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise LabError(f"--{what} is empty: give a comma-separated list")
    return list(dict.fromkeys(items))  # drop repeats, keep order


def parse_topologies(text: str) -> tuple[BenchTopology, ...]:
    return tuple(parse_topology(item) for item in _items(text, "topologies"))


def parse_workflows(text: str) -> tuple[str, ...]:
    kinds = _items(text, "workflows")
    for kind in kinds:
        if kind not in REFERENCE_KINDS:
            raise LabError(f"unknown workflow {kind!r}: choose from {', '.join(REFERENCE_KINDS)}")
    return tuple(kinds)


@dataclass(frozen=True)
class NemesisConfig:
    name: str = "none"
    target: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    interval_s: float = 3.0        # quiet time before each injection
    duration_s: float = 5.0        # how long each injection lasts before heal

    @property
    def enabled(self) -> bool:
        return self.name != "none"


@dataclass(frozen=True)
class BenchParams:
    workflows: tuple[str, ...]
    topologies: tuple[BenchTopology, ...]
    n: int = 5
    x: int = 2
    seconds: float = 0.0
    concurrency: int = 2
    repeat: int = 3
    executions: int = 6           # executions per repeat
    warmup: int = 1               # executions before each measurement, not counted
    timeout_s: float = 120.0      # an execution not terminal by then is stuck
    poll_s: float = 0.2
    nemesis: NemesisConfig = field(default_factory=NemesisConfig)

    def validate(self) -> "BenchParams":
        _int_at_least("--n", self.n, 1, MAX_N)
        _int_at_least("--x", self.x, 1, MAX_N)
        _int_at_least("--concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        _int_at_least("--repeat", self.repeat, 1)
        _int_at_least("--executions", self.executions, 1)
        _int_at_least("--warmup", self.warmup, 0)
        for flag, value, low in (("--seconds", self.seconds, 0.0), ("--timeout", self.timeout_s, 1.0),
                                 ("--poll", self.poll_s, 0.01)):
            if not isinstance(value, (int, float)) or math.isnan(value) or value < low:
                raise LabError(f"{flag} {value}: must be a number >= {low:g}")
        if not self.workflows or not self.topologies:
            raise LabError("give at least one workflow and one topology")
        return self

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["topologies"] = [t.label for t in self.topologies]
        data["workflows"] = list(self.workflows)
        return data


def _int_at_least(flag: str, value: object, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise LabError(f"{flag} {value}: must be an integer {bound}")


# ------------------------------------------------------------------ statistics
def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "mean": statistics.fmean(values), "p50": percentile(values, 50),
            "p95": percentile(values, 95), "max": max(values),
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0, "count": len(values)}


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """How far the per-repeat values lie apart; rel_range is what bench-compare uses as noise."""
    if not values:
        return None
    mean = statistics.fmean(values)
    low, high = min(values), max(values)
    return {"min": low, "max": high, "mean": mean, "range": high - low,
            "rel_range": (high - low) / mean if mean else 0.0,
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0}


def parse_mistral_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "").replace("T", " "))
    except ValueError:
        return None


def seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = parse_mistral_time(start), parse_mistral_time(end)
    return (b - a).total_seconds() if a and b else None


# ------------------------------------------------------------------ samples and repeats
@dataclass
class Sample:
    api: str
    started: float                    # monotonic, when the POST was sent
    finished: float                   # monotonic, when completion was seen (or gave up)
    execution_id: str | None = None
    state: str = "UNKNOWN"
    mistral_s: float | None = None
    task_s: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def wall_s(self) -> float:
        return self.finished - self.started

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RepeatResult:
    samples: list[Sample]
    expected_tasks: int

    @property
    def valid(self) -> bool:
        return bool(self.samples) and all(s.ok for s in self.samples)

    @property
    def wall_s(self) -> float:
        return max(s.finished for s in self.samples) - min(s.started for s in self.samples)

    def figures(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.ok]
        wall = self.wall_s if self.samples else 0.0
        tasks = [t for s in ok for t in s.task_s]
        return {
            "valid": self.valid, "samples": len(self.samples), "wall_s": wall,
            "exec_time_mean": statistics.fmean(s.wall_s for s in ok) if ok else None,
            "per_task_mean": statistics.fmean(tasks) if tasks else None,
            "executions_per_s": len(ok) / wall if wall > 0 else None,
            "tasks_per_s": len(ok) * self.expected_tasks / wall if wall > 0 else None,
            "failures": [f"{s.api} {s.execution_id}: {s.error}" for s in self.samples if not s.ok][:3],
        }


# ------------------------------------------------------------------ one result entry
def build_entry(workflow: ReferenceWorkflow, topology: str, nemesis: str, repeats: list[RepeatResult],
                params: BenchParams, cpu: dict | None = None, memory: dict | None = None,
                faults: list[dict] | None = None) -> dict[str, Any]:
    """Everything the JSON says about one (workflow, topology, nemesis) measurement; only valid repeats count."""
    per_repeat = [r.figures() for r in repeats]
    good = [r for r in repeats if r.valid]
    samples = [s for r in good for s in r.samples]
    valid_figures = [f for f in per_repeat if f["valid"]]
    entry: dict[str, Any] = {
        "workflow": workflow.kind, "workflow_name": workflow.name, "topology": topology, "nemesis": nemesis,
        "valid": bool(repeats) and len(good) == len(repeats),
        "expected_tasks": workflow.expected_tasks, "concurrency": params.concurrency,
        "samples": len(samples), "repeats_valid": len(good), "repeats_total": len(repeats),
        "exec_time_s": summarize([s.wall_s for s in samples]),
        "exec_time_mistral_s": _mistral_times(samples),
        "per_task_s": _per_task(samples, params.seconds),
        "tasks_per_s": _mean_of(valid_figures, "tasks_per_s"),
        "executions_per_s": _mean_of(valid_figures, "executions_per_s"),
        "repeats": per_repeat,
        "spread": {key: spread([f[key] for f in valid_figures if f[key] is not None])
                   for key in ("exec_time_mean", "per_task_mean", "tasks_per_s", "executions_per_s")},
        "cpu": cpu, "memory_mb": memory,
    }
    if not entry["valid"]:
        failures = [msg for f in per_repeat for msg in f["failures"]]
        entry["invalid_reason"] = (f"{len(repeats) - len(good)}/{len(repeats)} repeats had failed or stuck "
                                   f"executions, e.g. {failures[0] if failures else 'no samples'}")
    if faults is not None:
        entry["faults"] = faults
    return entry


def _per_task(samples: list[Sample], action_s: float) -> dict[str, float] | None:
    per_task = summarize([t for s in samples for t in s.task_s])
    if per_task:
        per_task |= {"overhead_mean_s": per_task["mean"] - action_s, "resolution_s": MISTRAL_TIME_RESOLUTION_S}
    return per_task


def _mistral_times(samples: list[Sample]) -> dict[str, float] | None:
    mistral = summarize([s.mistral_s for s in samples if s.mistral_s is not None])
    if mistral:
        mistral["resolution_s"] = MISTRAL_TIME_RESOLUTION_S
    return mistral


def versus(baseline: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """Ratios other/baseline of mean execution time and throughput (> 1 slower / < 1 less throughput)."""
    def ratio(a: float | None, b: float | None) -> float | None:
        return b / a if a and b is not None else None

    def mean(entry: dict[str, Any]) -> float | None:
        return (entry["exec_time_s"] or {}).get("mean")

    return {"exec_time_ratio": ratio(mean(baseline), mean(other)),
            "tasks_per_s_ratio": ratio(baseline["tasks_per_s"], other["tasks_per_s"])}


def _mean_of(figures: list[dict], key: str) -> float | None:
    values = [f[key] for f in figures if f[key] is not None]
    return statistics.fmean(values) if values else None
