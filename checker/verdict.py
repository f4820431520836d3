"""The run's verdict from its named anomalies: INVALID only on defects, never VALID on an empty pass.

    verdict(files, results, gates) -> {"valid", "promise", "anomalies", "anomaly_counts", "defect_count",
                                       "ha_gap_count", "expected_degradation_count"}

False when any anomaly is a defect (safety and stuck executions always; an ERROR when every fault touching it
stayed inside the run's promise level); else "unknown" when a gate or checker could not decide; else true. A
checker that said false because of faults beyond the promise is expected degradation, listed, not INVALID.
"""
from __future__ import annotations

from typing import Any

from checker.anomalies import Context, classify, summary
from checker.promise import promise_json, promise_of
from history.run_dir import SNAPSHOT_FILE, WITNESS_FILE, RunFiles
from history.events import FAIL


def built_to_succeed(files: RunFiles) -> set[str]:
    return {str(op.key) for op in files.started_ops() if op.status != FAIL
            and not (isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR")}


def verdict(files: RunFiles, results: dict[str, dict[str, Any]], gates: dict[str, dict[str, Any]]
            ) -> dict[str, Any]:
    promise = promise_of(files.dir, files.run, files.events, files.spec, files.snapshot_wall)
    snapshot = files.snapshot if files.has(SNAPSHOT_FILE) else None
    runs = files.witness if files.has(WITNESS_FILE) else []
    ctx = Context(snapshot, runs, promise["windows"], promise["level"])
    anomalies = classify(ctx, results, gates, built_to_succeed(files) if snapshot else set())
    undecided = [v for v in [r["valid"] for r in results.values()] + [g["valid"] for g in gates.values()]
                 if v is not True and v is not False]
    if any(a["defect"] for a in anomalies):
        valid: bool | str = False
    elif undecided:
        valid = "unknown"
    else:
        valid = True
    return {"valid": valid, "promise": promise_json(promise), "anomalies": anomalies, **summary(anomalies)}


__all__ = ["built_to_succeed", "verdict"]
