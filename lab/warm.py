"""Warm labs: many short runs (findings tries, shrink, hunt, soak, patch checks) share one running lab per
topology and reset it between runs (lab/reset.py) instead of bringing a new cluster up each time.

A run records how its lab started in test.yaml (`lab_start`: fresh, or reset), so a defect can be compared
both ways. A reset that fails, or leaves the lab unhealthy, is said in one line and the run gets a fresh lab.
`fresh=True` is the old behaviour: every run on a cluster of its own, taken down after it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from cluster.errors import LabError

Say = Callable[[str], None]
FRESH, RESET = "fresh", "reset"


def _quiet(_: str) -> None:
    pass


class WarmLabs:
    """Run specs on warm labs: `run(spec, store)` like lab.run.run_test; `close()` takes every lab down."""

    def __init__(self, prefix: str, fresh: bool = False, say: Say = _quiet,
                 run_fn: Callable[..., Any] | None = None, reset_fn: Callable[..., Any] | None = None,
                 cluster_fn: Callable[[str], Any] | None = None) -> None:
        self.prefix = f"{prefix}-{os.getpid()}"[:20]
        self.fresh = fresh
        self.say = say
        self.run_fn = run_fn
        self.reset_fn = reset_fn
        self.cluster_fn = cluster_fn  # name -> Cluster; injectable so tests need no Docker
        self.labs: set[str] = set()

    def lab_name(self, spec) -> str:
        """One name per topology: the spec's cluster, database, version, source and Mistral config."""
        topology = asdict(spec.topology("x"))
        topology.pop("name", None)
        key = hashlib.sha256(json.dumps(topology, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"{self.prefix}-{key}"

    def run(self, spec, store: Path, **kwargs: Any):
        run_test = self.run_fn or _run_test()
        given = kwargs.pop("lab_name", None)  # a caller's own name holds only for a fresh lab
        if self.fresh:
            return run_test(spec, store, lab_name=given, lab_start=FRESH, **kwargs)
        name = self.lab_name(spec)
        for other in sorted(self.labs - {name}):  # one warm lab at a time: an idle cluster still costs CPU
            self._down(other)
        start = self._reset_or_fresh(name)
        self.labs.add(name)
        return run_test(spec, store, lab_name=name, keep=True, reuse=start == RESET, lab_start=start, **kwargs)

    def _cluster(self, name: str):
        if self.cluster_fn is None:
            from cluster.control import Cluster

            self.cluster_fn = Cluster
        return self.cluster_fn(name)

    def _reset_or_fresh(self, name: str) -> str:
        cluster = self._cluster(name)
        if name not in self.labs or not cluster.exists():
            return FRESH
        try:
            done = (self.reset_fn or _reset_lab())(cluster)
        except Exception as exc:  # noqa: BLE001 - any failure: this run gets a fresh lab, and says so
            self.say(f"reset of {name} failed ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}):"
                     " a fresh lab for this run")
            cluster.down()
            return FRESH
        self.say(f"{name}: reset in {getattr(done, 'total_s', 0.0):.1f} s")
        return RESET

    def close(self) -> None:
        for name in sorted(self.labs):
            self._down(name)

    def _down(self, name: str) -> None:
        try:
            self._cluster(name).down()
        except LabError as exc:
            self.say(f"could not take {name} down: {exc}")
        self.labs.discard(name)

    def __enter__(self) -> "WarmLabs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run_test():
    from lab.run import run_test

    return run_test


def _reset_lab():
    from lab.reset import reset_lab

    return reset_lab
