"""`make bench-cluster`: warm `up` of a 2 api / 2 engine / 2 executor lab to all-healthy, and `down`.

Images must be built already (the first `up` builds them; that cold figure is printed separately when it
happens). Prints each repeat, the median, and the warm-up breakdown: seconds from the start of `up` to each
phase (image check, containers created, database ready, schema migrated and populated, each role's last node
ready), median over the repeats. Targets (issue: faster warm start): up <= 20 s, down <= 5 s.
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

from cluster.control import Cluster
from cluster.images import ensure_images
from cluster.topology import Topology


def measure_once(backend: str = "compose") -> tuple[float, float, dict[str, float]]:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(name, backend=backend)
    started = time.monotonic()
    try:
        cluster.up(Topology(name=name, apis=2, engines=2, executors=2, backend=backend))
        up_s = time.monotonic() - started
    finally:
        started = time.monotonic()
        cluster.down()
        down_s = time.monotonic() - started
    return up_s, down_s, dict(cluster.up_timings)


def print_breakdown(runs: list[dict[str, float]]) -> None:
    phases = sorted({phase for run in runs for phase in run},
                    key=lambda phase: statistics.median(run[phase] for run in runs if phase in run))
    print("warm-up breakdown (seconds from the start of up, median over repeats):")
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
    ups, downs, breakdowns = [], [], []
    for i in range(args.repeat):
        up_s, down_s, timings = measure_once(args.backend)
        ups.append(up_s)
        downs.append(down_s)
        breakdowns.append(timings)
        print(f"repeat {i + 1}: up 2/2/2 to all-healthy {up_s:.1f} s, down {down_s:.1f} s", flush=True)
    print(f"median up {statistics.median(ups):.1f} s (min {min(ups):.1f}, max {max(ups):.1f}); "
          f"median down {statistics.median(downs):.1f} s (min {min(downs):.1f}, max {max(downs):.1f})")
    print_breakdown(breakdowns)


if __name__ == "__main__":
    main()
