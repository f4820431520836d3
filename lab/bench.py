"""Scaling benchmark: the seed's reference workflows across topologies (apis x engines x executors), optionally
under a nemesis, with execution time, processing time per task, throughput and CPU/memory per container.

One cluster is brought up at the first topology and resized with `Cluster.scale` between topologies, which is
much faster than one bring-up per topology. For every (workflow, topology[, nemesis]) the measurement runs
`repeat` times; each repeat starts `executions` executions from `concurrency` closed-loop client threads, each
thread pinned round-robin to one API node.

Definitions (also written into the JSON under "definitions"):
- exec_time_s: client-observed, from sending POST /v2/executions to the first poll that sees SUCCESS. Mistral's
  own timestamps are truncated to whole seconds (utils.utc_now_sec, DATETIME columns), far too coarse for
  executions that take one or two seconds, so they are reported separately as exec_time_mistral_s.
- per_task_s: Mistral's task execution created_at -> finished_at (engine creates the task .. engine records it
  done: RPC to an executor, the action, the result back). Whole-second resolution: the mean is unbiased
  (tasks start at random phases of the second), the percentiles are quantised. overhead_mean_s subtracts the
  action's own sleep. cpu_s_per_task is the sub-second view: CPU seconds the lab's containers spent per
  completed task.
- tasks_per_s / executions_per_s: verified work divided by the repeat's wall clock (first start to last
  completion seen), averaged over repeats.
- A repeat with any failed, stuck or mis-shaped execution is invalid and none of its samples are averaged in.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

import requests

from cluster.control import Cluster
from cluster.errors import LabError
from cluster.topology import Topology, validate_count
from workloads.reference import MAX_N, REFERENCE_KINDS, ReferenceWorkflow, reference_workflow

Report = Callable[[str], None]
SCALED_ROLES = ("api", "engine", "executor")
TOPOLOGY_RE = re.compile(r"^\s*(\d+)x(\d+)x(\d+)\s*$")
MISTRAL_TIME_RESOLUTION_S = 1.0
CPU_BOUND_FRACTION = 0.8          # lab containers using >= 80 % of all cores: the machine, not Mistral, limits
MAX_CONCURRENCY = 64
IDLE_WINDOW_S = 4.0               # no-load CPU sample per topology, subtracted for net CPU per task
# Short heartbeat windows so a fault that loses an action is noticed in seconds (as the shared test cluster).
NEMESIS_OVERRIDES = {"action_heartbeat": {"check_interval": "2", "max_missed_heartbeats": "5",
                                          "first_heartbeat_timeout": "30"}}
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


# ------------------------------------------------------------------ one execution
class BenchHttpError(Exception):
    pass


class ApiClient:
    """Plain HTTP to one API node: lighter than mistralclient on a 2-core machine and exact about timing."""

    def __init__(self, node: str, url: str, timeout: float = 30.0):
        self.node, self.url, self.timeout = node, url.rstrip("/"), timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        response = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            text = " ".join(response.text.split())[:200]
            raise BenchHttpError(f"HTTP {response.status_code} from {self.node}: {text}")
        return response.json() if response.content else {}

    def start(self, workflow: str, workflow_input: dict) -> dict:
        return self._call("POST", "/v2/executions",
                          json={"workflow_name": workflow, "input": json.dumps(workflow_input)})

    def execution(self, execution_id: str) -> dict:
        return self._call("GET", f"/v2/executions/{execution_id}")

    def tasks(self, execution_id: str) -> list[dict]:
        return self._call("GET", "/v2/tasks", params={"workflow_execution_id": execution_id,
                                                       "limit": 1000})["tasks"]

    def cancel(self, execution_id: str) -> None:
        self._call("PUT", f"/v2/executions/{execution_id}", json={"state": "CANCELLED"})

    def close(self) -> None:
        self.session.close()


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


def run_execution(api: ApiClient, workflow: ReferenceWorkflow, seconds: float, timeout: float,
                  poll: float) -> Sample:
    """Start one execution, wait for it, verify it: SUCCESS with exactly the expected SUCCESS tasks."""
    sample = Sample(api=api.node, started=time.monotonic(), finished=0.0)
    try:
        execution = api.start(workflow.name, {"seconds": seconds})
        sample.execution_id = execution["id"]
        execution = _wait(api, execution, sample.started + timeout, poll)
        sample.finished = time.monotonic()
        sample.state = execution.get("state", "UNKNOWN")
        sample.mistral_s = seconds_between(execution.get("created_at"), execution.get("updated_at"))
        sample.error = _verify(api, sample, execution, workflow, timeout)
    except (requests.RequestException, BenchHttpError, KeyError, ValueError) as exc:
        sample.finished = time.monotonic()
        sample.error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    return sample


def _wait(api: ApiClient, execution: dict, deadline: float, poll: float) -> dict:
    while execution.get("state") not in ("SUCCESS", "ERROR", "CANCELLED") and time.monotonic() < deadline:
        time.sleep(poll)
        execution = api.execution(execution["id"])
    return execution


def _verify(api: ApiClient, sample: Sample, execution: dict, workflow: ReferenceWorkflow,
            timeout: float) -> str | None:
    if sample.state not in ("SUCCESS", "ERROR", "CANCELLED"):
        try:  # do not let a stuck execution load the next measurement
            api.cancel(execution["id"])
        except (requests.RequestException, BenchHttpError):
            pass
        return f"stuck: {sample.state} after {timeout:g} s"
    if sample.state != "SUCCESS":
        return f"{sample.state}: {' '.join(str(execution.get('state_info') or '').split())[:200]}"
    tasks = api.tasks(execution["id"])
    done = [t for t in tasks if t.get("state") == "SUCCESS"]
    if len(tasks) != workflow.expected_tasks or len(done) != len(tasks):
        return f"SUCCESS with {len(done)}/{len(tasks)} tasks succeeded, expected {workflow.expected_tasks}"
    sample.task_s = [d for d in (seconds_between(t.get("created_at"), t.get("finished_at") or t.get("updated_at"))
                                 for t in tasks) if d is not None]
    return None


# ------------------------------------------------------------------ one repeat
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


def run_repeat(apis: list[tuple[str, str]], workflow: ReferenceWorkflow, params: BenchParams,
               count: int) -> RepeatResult:
    """`count` executions from `concurrency` closed-loop threads; thread i talks only to API node i mod #apis."""
    claimed = iter(range(count))
    lock = threading.Lock()
    samples: list[Sample] = []

    def worker(index: int) -> None:
        node, url = apis[index % len(apis)]
        api = ApiClient(node, url)
        try:
            while True:
                with lock:
                    if next(claimed, None) is None:
                        return
                sample = run_execution(api, workflow, params.seconds, params.timeout_s, params.poll_s)
                with lock:
                    samples.append(sample)
        finally:
            api.close()

    threads = [threading.Thread(target=worker, args=(i,), name=f"bench-client-{i}", daemon=True)
               for i in range(min(params.concurrency, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return RepeatResult(sorted(samples, key=lambda s: s.started), workflow.expected_tasks)


# ------------------------------------------------------------------ CPU and memory
@dataclass
class _Reading:
    at: float          # monotonic seconds
    cpu_ns: int        # cumulative CPU time of the container
    mem_bytes: int     # working set (usage minus inactive page cache, as `docker stats` shows)


def read_host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine: includes other labs and this client."""
    with open("/proc/stat") as handle:
        fields = [float(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def _working_set(memory: dict) -> int:
    extra = memory.get("stats") or {}
    inactive = extra.get("inactive_file", extra.get("total_inactive_file", 0))
    return max(0, int(memory.get("usage", 0)) - int(inactive))


class ResourceSampler:
    """Follows `docker stats` of every container of a lab, one thread per container.

    dockerd refreshes container stats once a second and a one-shot call waits for the next refresh, so one
    thread per container keeps every container sampled each second (a serial sweep of 9 containers would take
    ~9 s). CPU % comes from consecutive cumulative counters timed by the daemon's own read timestamp, so the
    mean over the window is exact whatever the sampling jitter.
    """

    def __init__(self, roles: dict[str, str], container_names: dict[str, str]):
        self.roles = roles                      # node -> role
        self.names = container_names            # node -> docker container name
        self.readings: dict[str, list[_Reading]] = {node: [] for node in roles}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._follow, args=(node,), name=f"bench-stats-{node}",
                                          daemon=True) for node in roles]
        self._host: list[tuple[float, float]] = []
        self._client = None

    def __enter__(self) -> "ResourceSampler":
        import docker

        self._client = docker.from_env(timeout=30, max_pool_size=max(10, len(self.names) + 2))
        self._host.append(read_host_cpu())
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 3.0  # the window starts when every container has a first reading
        while time.monotonic() < deadline and not all(self.readings.values()):
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10.0)
        self._host.append(read_host_cpu())
        self._client.close()

    def _follow(self, node: str) -> None:
        try:
            container = self._client.containers.get(self.names[node])
        except Exception:  # gone already: nothing to sample
            return
        while True:
            stopping = self._stop.is_set()  # one last reading after stop closes the window
            try:
                stats = container.stats(stream=False, one_shot=True)
                self.readings[node].append(_Reading(_daemon_time(stats.get("read")),
                                                    int(stats["cpu_stats"]["cpu_usage"]["total_usage"]),
                                                    _working_set(stats.get("memory_stats") or {})))
            except Exception:  # killed or stopped by a nemesis: no stats now; try again
                time.sleep(0.5)
            if stopping:
                return

    def host_busy_pct(self) -> float | None:
        if len(self._host) < 2:
            return None
        (busy0, total0), (busy1, total1) = self._host[0], self._host[-1]
        cores = os.cpu_count() or 1
        return 100.0 * cores * (busy1 - busy0) / (total1 - total0) if total1 > total0 else None


def _daemon_time(text: str | None) -> float:
    """dockerd's RFC 3339 read time (nanoseconds trimmed to micro) as epoch seconds; now if absent."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text or "")
    if not match or match.group(1).startswith("0001"):
        return time.time()
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(f"{match.group(1)}{fraction}{zone}").timestamp()


def usage_figures(roles: dict[str, str], readings: dict[str, list[_Reading]], tasks_done: int,
                  host_busy_pct: float | None, cores: int,
                  idle_pct: dict[str, float] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cpu, memory_mb) sections of a result entry from raw readings; `idle_pct` (per node, measured with no
    load) turns CPU seconds into net CPU seconds caused by the workload."""
    idle_pct = idle_pct or {}
    by_container: dict[str, dict[str, Any]] = {}
    intervals: dict[str, list[tuple[float, float, float]]] = {}
    cpu_seconds: dict[str, float] = {}
    net_seconds: dict[str, float] = {}
    for node, points in readings.items():
        spans = _cpu_intervals(points)
        intervals[node] = spans
        seconds = sum(pct / 100.0 * (end - start) for start, end, pct in spans)
        window = sum(end - start for start, end, _ in spans)
        cpu_seconds[node] = seconds
        net_seconds[node] = max(0.0, seconds - idle_pct.get(node, 0.0) / 100.0 * window)
        by_container[node] = {"role": roles[node],
                              "mean_pct": 100.0 * seconds / window if window > 0 else None,
                              "max_pct": max((pct for _, _, pct in spans), default=None),
                              "idle_pct": idle_pct.get(node),
                              "mem_max_mb": max((p.mem_bytes for p in points), default=0) / 2**20}
    cpu: dict[str, Any] = {"cores": cores, "by_container": {n: {k: v for k, v in c.items() if k != "mem_max_mb"}
                                                              for n, c in by_container.items()}}
    cpu["by_role"] = _by_role(by_container, "mean_pct", "max_pct", "idle_pct")
    cpu["total_mean_pct"] = sum(c["mean_pct"] or 0.0 for c in by_container.values())
    cpu["total_max_pct"] = _peak_total(intervals)
    cpu["host_busy_pct"] = host_busy_pct
    cpu["cpu_bound"] = cpu_bound(cpu["total_mean_pct"], host_busy_pct, cores)
    cpu["cpu_s_per_task"] = _cpu_per_task(roles, cpu_seconds, tasks_done)
    cpu["net_cpu_s_per_task"] = _cpu_per_task(roles, net_seconds, tasks_done) if idle_pct else None
    memory = {"by_container": {n: c["mem_max_mb"] for n, c in by_container.items()},
              "by_role": {}, "total_max": sum(c["mem_max_mb"] for c in by_container.values())}
    for node, c in by_container.items():
        memory["by_role"][c["role"]] = memory["by_role"].get(c["role"], 0.0) + c["mem_max_mb"]
    return cpu, memory


def idle_figures(readings: dict[str, list[_Reading]]) -> dict[str, float]:
    """Mean CPU % per node over a window with no load (RabbitMQ's Erlang VM alone busy-polls a core share)."""
    idle = {}
    for node, points in readings.items():
        spans = _cpu_intervals(points)
        window = sum(end - start for start, end, _ in spans)
        if window > 0:
            idle[node] = 100.0 * sum(pct / 100.0 * (end - start) for start, end, pct in spans) / window
    return idle


def _cpu_intervals(points: list[_Reading]) -> list[tuple[float, float, float]]:
    """(start, end, CPU %) between consecutive readings; a restarted container (counter reset) is skipped."""
    spans = []
    for a, b in zip(points, points[1:]):
        if b.at > a.at and b.cpu_ns >= a.cpu_ns:
            spans.append((a.at, b.at, 100.0 * (b.cpu_ns - a.cpu_ns) / 1e9 / (b.at - a.at)))
    return spans


def _peak_total(intervals: dict[str, list[tuple[float, float, float]]]) -> float | None:
    """Highest sum over containers of their CPU % in the same second (dockerd samples them all each second)."""
    totals: dict[int, float] = {}
    for spans in intervals.values():
        for _, end, pct in spans:
            totals[round(end)] = totals.get(round(end), 0.0) + pct
    return max(totals.values()) if totals else None


def _by_role(by_container: dict[str, dict[str, Any]], *keys: str) -> dict[str, dict[str, float]]:
    roles: dict[str, dict[str, float]] = {}
    for c in by_container.values():
        entry = roles.setdefault(c["role"], {k: 0.0 for k in keys} | {"containers": 0})
        for key in keys:
            entry[key] += c.get(key) or 0.0
        entry["containers"] += 1
    return roles


def _cpu_per_task(roles: dict[str, str], cpu_seconds: dict[str, float], tasks_done: int) -> dict[str, Any] | None:
    if tasks_done <= 0:
        return None
    per_role: dict[str, float] = {}
    for node, seconds in cpu_seconds.items():
        per_role[roles[node]] = per_role.get(roles[node], 0.0) + seconds / tasks_done
    return {"total": sum(cpu_seconds.values()) / tasks_done, "by_role": per_role}


def cpu_bound(lab_pct: float, host_pct: float | None, cores: int) -> bool:
    """True when the lab (or the whole machine, other tenants included) used most of every core."""
    limit = CPU_BOUND_FRACTION * 100.0 * cores
    return lab_pct >= limit or (host_pct is not None and host_pct >= limit)


# ------------------------------------------------------------------ one result entry
def build_entry(workflow: ReferenceWorkflow, topology: str, nemesis: str, repeats: list[RepeatResult],
                params: BenchParams, cpu: dict | None = None, memory: dict | None = None,
                faults: list[dict] | None = None) -> dict[str, Any]:
    """Everything the JSON says about one (workflow, topology, nemesis) measurement; only valid repeats count."""
    per_repeat = [r.figures() for r in repeats]
    good = [r for r in repeats if r.valid]
    samples = [s for r in good for s in r.samples]
    tasks = [t for s in samples for t in s.task_s]
    per_task = summarize(tasks)
    if per_task:
        per_task |= {"overhead_mean_s": per_task["mean"] - params.seconds,
                     "resolution_s": MISTRAL_TIME_RESOLUTION_S}
    mistral = summarize([s.mistral_s for s in samples if s.mistral_s is not None])
    if mistral:
        mistral["resolution_s"] = MISTRAL_TIME_RESOLUTION_S
    valid_figures = [f for f in per_repeat if f["valid"]]
    entry: dict[str, Any] = {
        "workflow": workflow.kind, "workflow_name": workflow.name, "topology": topology, "nemesis": nemesis,
        "valid": bool(repeats) and len(good) == len(repeats),
        "expected_tasks": workflow.expected_tasks, "concurrency": params.concurrency,
        "samples": len(samples), "repeats_valid": len(good), "repeats_total": len(repeats),
        "exec_time_s": summarize([s.wall_s for s in samples]),
        "exec_time_mistral_s": mistral,
        "per_task_s": per_task,
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


# ------------------------------------------------------------------ nemesis
def load_fault_registry() -> dict[str, type]:
    """nemesis.base.FAULTS after importing every fault module (nemesis/__init__ may not import them)."""
    import importlib
    import pkgutil

    try:
        import nemesis
        from nemesis import base
    except ImportError as exc:
        raise LabError(f"--nemesis needs the nemesis package, which does not import: {exc}") from None
    for module in pkgutil.iter_modules(nemesis.__path__):
        if module.name not in ("base", "schedule", "tests") and not module.name.startswith("_"):
            try:
                importlib.import_module(f"nemesis.{module.name}")
            except Exception:  # a fault module being edited must not break the others
                continue
    return base.FAULTS


def check_nemesis(config: NemesisConfig) -> None:
    """Build the fault once offline: unknown name, option or target fails before any cluster exists."""
    if not config.enabled:
        return
    registry = load_fault_registry()
    if config.name not in registry:
        raise LabError(f"unknown nemesis {config.name!r}: choose none or one of {', '.join(sorted(registry))}")
    _make_fault(config)
    for flag, value in (("--nemesis-interval", config.interval_s), ("--nemesis-duration", config.duration_s)):
        if value <= 0:
            raise LabError(f"{flag} {value}: must be > 0 seconds")


def _make_fault(config: NemesisConfig):
    from nemesis.base import make_fault

    return make_fault(config.name, config.options, config.target)


class NemesisLoop:
    """Inject the fault repeatedly while a measurement runs: quiet interval_s, fault for duration_s, heal.
    A fresh Fault object per injection (the nemesis interface makes one object per injection)."""

    def __init__(self, cluster: Cluster, config: NemesisConfig, seed: int = 0):
        self.cluster, self.config = cluster, config
        self.rng = random.Random(seed)
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-nemesis", daemon=True)
        self._started = 0.0

    def __enter__(self) -> "NemesisLoop":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _log(self, action: str, detail: Any) -> None:
        self.events.append({"t": round(time.monotonic() - self._started, 3), "action": action,
                            "detail": detail if isinstance(detail, (dict, str)) else str(detail)})

    def _run(self) -> None:
        while not self._stop.wait(self.config.interval_s):
            fault = None
            try:
                fault = _make_fault(self.config)
                self._log("start", {"fault": fault.describe(), **fault.start(self.cluster, self.rng)})
            except Exception as exc:  # a fault that cannot start now (target down) is logged, not fatal
                self._log("start-failed", f"{exc.__class__.__name__}: {exc}")
                if fault is not None:
                    self._heal(fault)  # heal also undoes a partial start
                continue
            self._stop.wait(self.config.duration_s)  # returns at once when the measurement ends
            self._heal(fault)

    def _heal(self, fault) -> None:
        try:
            self._log("heal", fault.heal(self.cluster))
        except Exception as exc:
            self._log("heal-failed", f"{exc.__class__.__name__}: {exc}")


# ------------------------------------------------------------------ the whole benchmark
def machine_info() -> dict[str, Any]:
    mem_kb = 0
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        pass
    return {"cores": os.cpu_count() or 1, "mem_gb": round(mem_kb / 2**20, 1), "platform": os.uname().sysname,
            "machine": os.uname().machine}


class Bench:
    """One cluster, resized between topologies; measures every workflow at every topology."""

    def __init__(self, params: BenchParams, report: Report, name: str | None = None):
        self.params = params.validate()
        self.report = report
        self.name = name or f"bn-{uuid.uuid4().hex[:6]}"
        self.cluster = Cluster(self.name)
        self.workflows = {k: reference_workflow(k, params.n, params.x, params.seconds) for k in params.workflows}
        self.results: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {}
        self.idle: dict[str, float] = {}

    def run(self) -> dict[str, Any]:
        check_nemesis(self.params.nemesis)
        started = time.monotonic()
        topology = self._topology(self.params.topologies[0])
        if self.cluster.exists():  # checked outside the try: never tear down a lab this run did not create
            raise LabError(f"a lab named {self.name!r} already exists; choose another --name")
        try:
            self.report(f"bringing up {self.name} at {self.params.topologies[0].label}")
            self.cluster.up(topology, self.report)
            self.timings["up_s"] = time.monotonic() - started
            self.measure_topologies()
        finally:
            self.report(f"tearing down {self.name}")
            self.cluster.down()
        self.timings["total_s"] = time.monotonic() - started
        return self.document(topology)

    def measure_topologies(self) -> None:
        """Every workflow at every topology on the running cluster (resized in the order given)."""
        self._register_workflows()
        for bench_topology in self.params.topologies:
            resize_started = time.monotonic()
            self._resize(bench_topology)
            self.timings[f"resize_{bench_topology.label}_s"] = time.monotonic() - resize_started
            self.idle = self._measure_idle()
            for workflow in self.workflows.values():
                self._measure_all(workflow, bench_topology.label)

    def _topology(self, first: BenchTopology) -> Topology:
        overrides = NEMESIS_OVERRIDES if self.params.nemesis.enabled else {}
        return Topology(name=self.name, apis=first.apis, engines=first.engines, executors=first.executors,
                        overrides={k: dict(v) for k, v in overrides.items()})

    def _register_workflows(self) -> None:
        from cluster import mistral_api

        api = mistral_api.client(next(iter(self.cluster.api_urls().values())))
        for workflow in self.workflows.values():
            mistral_api.ensure_workflow(api, workflow.definition)

    def _resize(self, target: BenchTopology) -> None:
        for role in SCALED_ROLES:
            if self.cluster.topology().count(role) != target.count(role):
                self.report(f"scaling {role}s to {target.count(role)} for {target.label}")
                self.cluster.scale(role, target.count(role), report=self.report)
        self.cluster.wait_ready(self.report, timeout=180.0)

    def _sampler(self) -> ResourceSampler:
        nodes = [n for n in self.cluster.nodes() if n.running]
        return ResourceSampler({n.name: n.role for n in nodes}, {n.name: n.container for n in nodes})

    def _measure_idle(self, seconds: float = IDLE_WINDOW_S) -> dict[str, float]:
        self.report(f"measuring idle CPU for {seconds:g} s")
        with self._sampler() as sampler:
            time.sleep(seconds)
        return idle_figures(sampler.readings)

    def _apis(self) -> list[tuple[str, str]]:
        return sorted(self.cluster.api_urls().items())

    def _measure_all(self, workflow: ReferenceWorkflow, label: str) -> None:
        baseline = self._measure(workflow, label, None)
        self.results.append(baseline)
        if self.params.nemesis.enabled:
            faulty = self._measure(workflow, label, self.params.nemesis)
            faulty["vs_baseline"] = versus(baseline, faulty)
            self.results.append(faulty)
            self._recover()

    def _measure(self, workflow: ReferenceWorkflow, label: str, nemesis: NemesisConfig | None) -> dict[str, Any]:
        what = f"{workflow.kind} @ {label}" + (f" under {nemesis.name}" if nemesis else "")
        apis = self._apis()
        self._warm_up(apis, workflow)
        sampler = self._sampler()
        loop = NemesisLoop(self.cluster, nemesis, seed=len(self.results)) if nemesis else None
        repeats: list[RepeatResult] = []
        with contextlib.ExitStack() as stack:
            stack.enter_context(sampler)
            if loop:
                stack.enter_context(loop)
            for index in range(self.params.repeat):
                self.report(f"{what}: repeat {index + 1}/{self.params.repeat}")
                # under faults API nodes may come and go: re-read them for every repeat
                repeats.append(run_repeat(self._apis() if loop else apis, workflow, self.params,
                                          self.params.executions))
        done = sum(len([s for s in r.samples if s.ok]) for r in repeats) * workflow.expected_tasks
        cpu, memory = usage_figures(sampler.roles, sampler.readings, done, sampler.host_busy_pct(),
                                    os.cpu_count() or 1, self.idle)
        entry = build_entry(workflow, label, nemesis.name if nemesis else "none", repeats, self.params, cpu,
                            memory, loop.events if loop else None)
        self.report(f"{what}: {_one_line(entry)}")
        return entry

    def _warm_up(self, apis: list[tuple[str, str]], workflow: ReferenceWorkflow) -> None:
        """Uncounted executions: the first runs after a resize pay for cold caches and new connections."""
        for index in range(self.params.warmup):
            api = ApiClient(*apis[index % len(apis)])
            try:
                run_execution(api, workflow, self.params.seconds, self.params.timeout_s, self.params.poll_s)
            finally:
                api.close()

    def _recover(self) -> None:
        """After a fault run, bring every node back so the next baseline starts from a healthy cluster."""
        from nemesis.nodes import bring_back

        down = [n.name for n in self.cluster.nodes() if not n.running]
        if down:
            self.report(f"restarting {', '.join(down)} after the fault run")
            bring_back(self.cluster, down, wait=False)
        self.cluster.wait_ready(self.report, timeout=240.0)

    def document(self, topology: Topology) -> dict[str, Any]:
        return {
            "schema": "mistral-lab-bench/1",
            "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(),
            "mistral_version": topology.mistral_version,
            "params": self.params.to_json(),
            "cluster": {"name": self.name, "db": topology.db, "notifiers": topology.notifiers,
                        "method": "one cluster, resized between topologies with Cluster.scale",
                        "scaled_roles": list(SCALED_ROLES), "overrides": topology.overrides},
            "timings": self.timings,
            "definitions": DEFINITIONS,
            "results": self.results,
        }


def _one_line(entry: dict[str, Any]) -> str:
    if not entry["exec_time_s"]:
        return f"invalid: {entry.get('invalid_reason')}"
    text = (f"exec mean {entry['exec_time_s']['mean']:.2f} s, {entry['tasks_per_s'] or 0:.1f} tasks/s, "
            f"cpu {entry['cpu']['total_mean_pct']:.0f}%")
    return text if entry["valid"] else f"INVALID ({entry['invalid_reason']}); {text}"


__all__ = ["Bench", "BenchParams", "BenchTopology", "NemesisConfig", "build_entry", "parse_topologies",
           "parse_topology", "parse_workflows", "percentile", "spread", "summarize", "usage_figures"]
