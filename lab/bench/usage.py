"""Resource usage of a lab while a measurement runs: a `docker stats` sampler per container and the CPU and
memory figures of a result entry (CPU % per container and role, CPU seconds per task, net of idle CPU).

CPU % follows the docker stats convention: 100 = one core busy.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

CPU_BOUND_FRACTION = 0.8          # lab containers using >= 80 % of all cores: the machine, not Mistral, limits


@dataclass
class _Reading:
    at: float          # epoch seconds of dockerd's read (its own clock, not ours)
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

    def __init__(self, roles: dict[str, str], container_names: dict[str, str],
                 hosts: dict[str, str] | None = None, lookup: Callable[[str], Any] | None = None):
        self.roles = roles                      # node -> role
        self.names = container_names            # node -> docker container name
        self.hosts = hosts or {}                # node -> the machine it runs on ("" on one engine)
        self.lookup = lookup                    # node -> its container, through the engine that runs it
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
        try:  # on a swarm over several hosts only the node's own engine has its container
            container = self.lookup(node) if self.lookup else self._client.containers.get(self.names[node])
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
                  idle_pct: dict[str, float] | None = None,
                  hosts: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cpu, memory_mb) sections of a result entry from raw readings; `idle_pct` (per node, measured with no
    load) turns CPU seconds into net CPU seconds caused by the workload."""
    idle_pct = idle_pct or {}
    intervals = {node: _cpu_intervals(points) for node, points in readings.items()}
    cpu_seconds = {node: _busy_seconds(spans) for node, spans in intervals.items()}
    net_seconds = {node: max(0.0, cpu_seconds[node] - idle_pct.get(node, 0.0) / 100.0 * _window(spans))
                   for node, spans in intervals.items()}
    by_container = {node: _container(roles[node], intervals[node], idle_pct.get(node), readings[node])
                    for node in readings}
    cpu: dict[str, Any] = {"cores": cores, "by_container": {n: {k: v for k, v in c.items() if k != "mem_max_mb"}
                                                              for n, c in by_container.items()}}
    cpu["by_role"] = _by_role(by_container, "mean_pct", "max_pct", "idle_pct")
    if hosts and len(set(hosts.values())) > 1:  # a swarm over several machines: which one did the work
        cpu["by_host"] = by_host(by_container, hosts)
    cpu["total_mean_pct"] = sum(c["mean_pct"] or 0.0 for c in by_container.values())
    cpu["total_max_pct"] = _peak_total(intervals)
    cpu["host_busy_pct"] = host_busy_pct
    cpu["cpu_bound"] = cpu_bound(cpu["total_mean_pct"], host_busy_pct, cores)
    cpu["cpu_s_per_task"] = _cpu_per_task(roles, cpu_seconds, tasks_done)
    cpu["net_cpu_s_per_task"] = _cpu_per_task(roles, net_seconds, tasks_done) if idle_pct else None
    return cpu, _memory(by_container)


def _container(role: str, spans: list[tuple[float, float, float]], idle_pct: float | None,
               points: list[_Reading]) -> dict[str, Any]:
    window = _window(spans)
    return {"role": role,
            "mean_pct": 100.0 * _busy_seconds(spans) / window if window > 0 else None,
            "max_pct": max((pct for _, _, pct in spans), default=None),
            "idle_pct": idle_pct,
            "mem_max_mb": max((p.mem_bytes for p in points), default=0) / 2**20}


def _memory(by_container: dict[str, dict[str, Any]]) -> dict[str, Any]:
    by_role: dict[str, float] = {}
    for c in by_container.values():
        by_role[c["role"]] = by_role.get(c["role"], 0.0) + c["mem_max_mb"]
    return {"by_container": {n: c["mem_max_mb"] for n, c in by_container.items()},
            "by_role": by_role, "total_max": sum(c["mem_max_mb"] for c in by_container.values())}


def idle_figures(readings: dict[str, list[_Reading]]) -> dict[str, float]:
    """Mean CPU % per node over a window with no load (RabbitMQ's Erlang VM alone busy-polls a core share)."""
    idle = {}
    for node, points in readings.items():
        spans = _cpu_intervals(points)
        window = _window(spans)
        if window > 0:
            idle[node] = 100.0 * _busy_seconds(spans) / window
    return idle


def _busy_seconds(spans: list[tuple[float, float, float]]) -> float:
    return sum(pct / 100.0 * (end - start) for start, end, pct in spans)


def _window(spans: list[tuple[float, float, float]]) -> float:
    return sum(end - start for start, end, _ in spans)


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


def by_host(by_container: dict[str, dict[str, Any]], hosts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """CPU % of the lab's containers summed per machine, with the nodes each ran (100 = one of its cores)."""
    found: dict[str, dict[str, Any]] = {}
    for node, figures in sorted(by_container.items()):
        entry = found.setdefault(hosts.get(node) or "?", {"mean_pct": 0.0, "nodes": []})
        entry["mean_pct"] += figures.get("mean_pct") or 0.0
        entry["nodes"].append(node)
    return found


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
