"""Benchmark: history writer throughput and client overhead per op beyond the HTTP round trip.

    python -m workloads.bench [--events N] [--calls N]

Targets: the writer sustains >= 50k ops/s; a client op (generate + record invoke + mistralclient call +
record completion) costs <= 1 ms more than the bare HTTP round trip to the same endpoint. The round trips
go to a stub Mistral on 127.0.0.1, so the network is as cheap as it gets and the overhead stands out.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from history.events import INVOKE, OK
from history.writer import HistoryWriter
from cluster.mistral_api import NodeClient
from workloads.core import Op
from workloads.recorder import HistoryRecorder
from workloads.register import RegisterWorkload
from workloads.session import OpSession
from workloads.stub import StubMistral


def writer_ops_per_s(events: int, directory: Path) -> float:
    """invoke+ok pairs appended as fast as one thread can; counts every event."""
    started = time.perf_counter()
    with HistoryWriter(directory / "bench-history.jsonl") as writer:
        for i in range(events // 2):
            writer.append(i % 16, INVOKE, "write", i, key="k", node="api-1")
            writer.append(i % 16, OK, "write", i, key="k", node="api-1")
    return events / (time.perf_counter() - started)


def client_overhead_ms(calls: int, directory: Path) -> tuple[float, float, float]:
    """(median raw round trip, median full client op, difference) in ms, against a local stub."""
    with StubMistral() as stub:
        stub.environments["k"] = {"name": "k", "variables": {"v": 1}}
        session = requests.Session()
        url = f"{stub.url}/v2/environments/k"
        raw = []
        for _ in range(calls):
            t0 = time.perf_counter()
            session.get(url, timeout=5).json()
            raw.append(time.perf_counter() - t0)
        workload = RegisterWorkload()
        recorder = HistoryRecorder(directory / "bench-client.jsonl")
        run = OpSession(workload, recorder, None)
        client = NodeClient("api-1", stub.url, timeout=5)
        op = Op("read", None, "k")
        full = []
        for _ in range(calls):
            t0 = time.perf_counter()
            run.perform(client, 0, op)
            full.append(time.perf_counter() - t0)
        recorder.close()
        client.close()
        session.close()
    raw_ms, full_ms = statistics.median(raw) * 1e3, statistics.median(full) * 1e3
    return raw_ms, full_ms, full_ms - raw_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ops = writer_ops_per_s(args.events, Path(tmp))
        raw_ms, full_ms, overhead_ms = client_overhead_ms(args.calls, Path(tmp))
    print(f"history writer: {ops:,.0f} ops/s (target >= 50,000) {'OK' if ops >= 50_000 else 'BELOW TARGET'}")
    print(f"client op: median {full_ms:.3f} ms vs raw HTTP round trip {raw_ms:.3f} ms -> overhead "
          f"{overhead_ms:.3f} ms/op (target <= 1 ms) {'OK' if overhead_ms <= 1.0 else 'ABOVE TARGET'}")
    return 0 if ops >= 50_000 and overhead_ms <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
