"""`make bench-cluster`: warm `up` of a 2 api / 2 engine / 2 executor lab to all-healthy, and `down`.

Images must be built already (the first `up` builds them; that cold figure is printed separately when it
happens). Prints each repeat and the median; targets: up <= 60 s, down <= 15 s.
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

from cluster.control import Cluster
from cluster.images import ensure_images
from cluster.topology import Topology


def measure_once() -> tuple[float, float]:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(name)
    started = time.monotonic()
    try:
        cluster.up(Topology(name=name, apis=2, engines=2, executors=2))
        up_s = time.monotonic() - started
    finally:
        started = time.monotonic()
        cluster.down()
        down_s = time.monotonic() - started
    return up_s, down_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    ensure_images()
    print(f"images ready in {time.monotonic() - started:.1f} s (cached images: near zero)")
    ups, downs = [], []
    for i in range(args.repeat):
        up_s, down_s = measure_once()
        ups.append(up_s)
        downs.append(down_s)
        print(f"repeat {i + 1}: up 2/2/2 to all-healthy {up_s:.1f} s, down {down_s:.1f} s", flush=True)
    print(f"median up {statistics.median(ups):.1f} s (min {min(ups):.1f}, max {max(ups):.1f}); "
          f"median down {statistics.median(downs):.1f} s (min {min(downs):.1f}, max {max(downs):.1f})")


if __name__ == "__main__":
    main()
