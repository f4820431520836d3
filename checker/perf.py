"""Performance figures of a run: latency quantiles per operation, throughput over time, processing times.

Always valid (it measures, it does not judge); an empty run yields empty figures.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from history.mistral import mistral_time
from history.witness import WitnessRun
from history.events import FAIL, INFO, OK
from history.pairing import Operation

QUANTILES = (0.5, 0.9, 0.99)
MAX_BUCKETS = 120


def quantiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max by nearest rank (no interpolation: every figure is a value that was measured)."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {f"p{int(q * 100)}": ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in QUANTILES}
    out["max"] = ordered[-1]
    return {k: round(v, 4) for k, v in out.items()}


def latency_by_f(ops: list[Operation]) -> dict[str, Any]:
    by_f: dict[str, dict[str, Any]] = defaultdict(lambda: {OK: 0, FAIL: 0, INFO: 0, "latencies": []})
    for op in ops:
        entry = by_f[op.f]
        entry[op.status] += 1
        if op.ret_time is not None:
            entry["latencies"].append((op.ret_time - op.call_time) / 1e6)
    return {f: {"count": e[OK] + e[FAIL] + e[INFO], "ok": e[OK], "fail": e[FAIL], "info": e[INFO],
                "latency_ms": quantiles(e["latencies"])} for f, e in sorted(by_f.items())}


def throughput(ops: list[Operation]) -> dict[str, Any]:
    """Completed ops per bucket of time since the run started (at most MAX_BUCKETS buckets)."""
    done = [op for op in ops if op.ret_time is not None]
    if not done:
        return {"bucket_s": None, "series": [], "ops_per_s": 0.0}
    end_s = max(op.ret_time for op in done) / 1e9
    width = max(1.0, end_s / MAX_BUCKETS)
    series: dict[int, dict[str, int]] = defaultdict(lambda: {OK: 0, FAIL: 0})
    for op in done:
        series[int(op.ret_time / 1e9 / width)][op.status] += 1
    first = min(op.call_time for op in ops) / 1e9
    return {"bucket_s": width,
            "series": [{"t": round(b * width, 3), **series[b]} for b in range(int(end_s / width) + 1)],
            "ops_per_s": round(len(done) / max(end_s - first, 1e-9), 3)}


def processing(snapshot: dict[str, Any] | None, runs: list[WitnessRun] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if snapshot is not None:
        durations = []
        for task in snapshot["tasks"]:
            start, end = mistral_time(task.get("started_at") or task.get("created_at")), \
                mistral_time(task.get("finished_at"))
            if start is not None and end is not None:
                durations.append(end - start)
        # Mistral keeps whole seconds: these are coarse, but they are Mistral's own view.
        out["task_s"] = {"count": len(durations), **quantiles(durations)}
    if runs is not None:
        actions = [r.end_time - r.start_time for r in runs if r.completed and r.end_time and r.start_time]
        out["action_run_s"] = {"count": len(actions), **quantiles(actions)}
    return out


def check_perf(ops: list[Operation], snapshot: dict[str, Any] | None = None,
               runs: list[WitnessRun] | None = None) -> dict[str, Any]:
    return {"valid": True, "ops": latency_by_f(ops), "throughput": throughput(ops),
            "processing": processing(snapshot, runs)}


__all__ = ["check_perf", "quantiles"]
