"""Scaling benchmark: the seed's reference workflows across topologies (apis x engines x executors), optionally
under a nemesis, with execution time, processing time per task, throughput and CPU/memory per container.

This module orchestrates (one cluster, resized between topologies); the parts live beside it in lab.bench:
model, measure, usage, faults and report. The method and the definitions of every figure:
docs/development.md#what-make-bench-measures.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from datetime import datetime
from typing import Any, Callable

from cluster.control import Cluster
from cluster.errors import LabError
from cluster.topology import Topology
from lab.bench.faults import NEMESIS_OVERRIDES, FaultRun, check_nemesis, recover
from lab.bench.measure import run_one, run_repeat
from lab.bench.model import (DEFINITIONS, SCALED_ROLES, BenchParams, BenchTopology, NemesisConfig, RepeatResult,
                             build_entry, versus)
from lab.bench.usage import ResourceSampler, idle_figures, usage_figures
from workloads.reference import ReferenceWorkflow, reference_workflow

Report = Callable[[str], None]
IDLE_WINDOW_S = 4.0               # no-load CPU sample per topology, subtracted for net CPU per task
READY_TIMEOUT_S = 180.0


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

    def __init__(self, params: BenchParams, report: Report, name: str | None = None, backend: str = "compose",
                 hosts: str | None = None, placement: str = "spread", mistral_src: str | None = None):
        self.params = params.validate()
        self.mistral_src = mistral_src  # a Mistral tree (a patch under test) instead of the release's wheels
        self.report = report
        self.name = name or f"bn-{uuid.uuid4().hex[:6]}"
        self.backend = backend
        self.hosts, self.placement = hosts, placement  # swarm over several machines
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
                        overrides={k: dict(v) for k, v in overrides.items()}, backend=self.backend,
                        hosts=self.hosts, placement=self.placement, mistral_src=self.mistral_src)

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
        self.cluster.wait_ready(self.report, timeout=READY_TIMEOUT_S)

    def _sampler(self) -> ResourceSampler:
        nodes = [n for n in self.cluster.nodes() if n.running]
        lookup = self.cluster.container if self.cluster.backend_kind == "swarm" else None
        return ResourceSampler({n.name: n.role for n in nodes}, {n.name: n.container for n in nodes},
                               {n.name: n.host for n in nodes}, lookup)

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
            recover(self.cluster, self.report)

    def _measure(self, workflow: ReferenceWorkflow, label: str, nemesis: NemesisConfig | None) -> dict[str, Any]:
        what = f"{workflow.kind} @ {label}" + (f" under {nemesis.name}" if nemesis else "")
        apis = self._apis()
        self._warm_up(apis, workflow)
        sampler = self._sampler()
        faults = self._fault_run(nemesis) if nemesis else None
        with contextlib.ExitStack() as stack:
            stack.enter_context(sampler)
            if faults:
                stack.enter_context(faults)
            repeats = self._repeats(what, workflow, apis, faults is not None)
        done = sum(len([s for s in r.samples if s.ok]) for r in repeats) * workflow.expected_tasks
        cpu, memory = usage_figures(sampler.roles, sampler.readings, done, sampler.host_busy_pct(),
                                    os.cpu_count() or 1, self.idle, sampler.hosts)
        entry = build_entry(workflow, label, nemesis.name if nemesis else "none", repeats, self.params, cpu,
                            memory, faults.events if faults else None)
        self.report(f"{what}: {_one_line(entry)}")
        return entry

    def _fault_run(self, nemesis: NemesisConfig) -> FaultRun:
        """The nemesis schedule for one fault measurement, seeded by its position in the results (replayable)."""
        from nemesis.schedule import inventory_of

        return FaultRun(self.cluster, nemesis, seed=len(self.results),
                        inventory=inventory_of(self.cluster.topology()), report=self.report)

    def _repeats(self, what: str, workflow: ReferenceWorkflow, apis: list[tuple[str, str]],
                 under_faults: bool) -> list[RepeatResult]:
        repeats = []
        for index in range(self.params.repeat):
            self.report(f"{what}: repeat {index + 1}/{self.params.repeat}")
            # under faults API nodes may come and go: re-read them for every repeat
            repeats.append(run_repeat(self._apis() if under_faults else apis, workflow, self.params,
                                      self.params.executions))
        return repeats

    def _warm_up(self, apis: list[tuple[str, str]], workflow: ReferenceWorkflow) -> None:
        """Uncounted executions: the first runs after a resize pay for cold caches and new connections."""
        for index in range(self.params.warmup):
            run_one(*apis[index % len(apis)], workflow, self.params)

    def document(self, topology: Topology) -> dict[str, Any]:
        return {
            "schema": "mistral-lab-bench/1",
            "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(),
            "mistral_version": topology.mistral_version,
            "mistral_src": topology.mistral_src,
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


__all__ = ["Bench", "machine_info"]
