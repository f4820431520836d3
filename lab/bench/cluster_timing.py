"""`make bench-cluster`: warm `up` of a 2 api / 2 engine / 2 executor lab to all-healthy, `reset`, and `down`.

Images must be built already (the first `up` builds them; that cold figure is printed separately when it
happens). Prints each repeat, `median <what> N s (min .., max ..)` for up, reset and down, the warm-up
breakdown (seconds from the start of `up` to each phase, median over the repeats) and the reset's steps.
Targets: up <= 20 s, reset <= 10 s, down <= 5 s.
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

from cluster.control import Cluster
from cluster.images import ensure_images
from cluster.topology import Topology


def measure_once(backend: str = "compose") -> tuple[float, float, float, dict[str, float], dict[str, float]]:
    """(up, reset, down, up's breakdown, reset's steps) of one lab."""
    from lab.reset import reset_lab

    name = f"bench-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(name, backend=backend)
    started = time.monotonic()
    try:
        cluster.up(Topology(name=name, apis=2, engines=2, executors=2, backend=backend))
        up_s = time.monotonic() - started
        started = time.monotonic()
        steps = reset_lab(cluster).timings
        reset_s = time.monotonic() - started
    finally:
        started = time.monotonic()
        cluster.down()
        down_s = time.monotonic() - started
    return up_s, reset_s, down_s, dict(cluster.up_timings), steps


def median_line(what: str, values: list[float]) -> str:
    return f"median {what} {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f})"


def print_breakdown(runs: list[dict[str, float]], title: str) -> None:
    phases = sorted({phase for run in runs for phase in run},
                    key=lambda phase: statistics.median(run[phase] for run in runs if phase in run))
    print(title)
    for phase in phases:
        values = [run[phase] for run in runs if phase in run]
        print(f"  {phase:<24} {statistics.median(values):6.1f}  (min {min(values):.1f}, max {max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("compose", "swarm"), default="compose")
    args = parser.parse_args()
    started = time.monotonic()
    ensure_images()
    print(f"images ready in {time.monotonic() - started:.1f} s (cached images: near zero)")
    ups, resets, downs, breakdowns, steps = [], [], [], [], []
    for i in range(args.repeat):
        up_s, reset_s, down_s, timings, reset_steps = measure_once(args.backend)
        ups.append(up_s)
        resets.append(reset_s)
        downs.append(down_s)
        breakdowns.append(timings)
        steps.append(reset_steps)
        print(f"repeat {i + 1}: up 2/2/2 to all-healthy {up_s:.1f} s, reset {reset_s:.1f} s, down {down_s:.1f} s",
              flush=True)
    for what, values in (("up 2/2/2", ups), ("reset 2/2/2", resets), ("down", downs)):
        print(median_line(what, values))
    print_breakdown(breakdowns, "warm-up breakdown (seconds from the start of up, median over repeats):")
    print_breakdown(steps, "reset steps (seconds each, median over repeats):")


if __name__ == "__main__":
    main()
