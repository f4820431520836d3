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
from checker.start_task_log import received_start_tasks
from history.run_dir import SNAPSHOT_FILE, WITNESS_FILE, RunFiles
from history.started import counts_as_started
from history.verdict import INVALID, VALID, merge, normal


def built_to_succeed(files: RunFiles) -> set[str]:
    return {str(op.key) for op in files.started_ops() if counts_as_started(op.f, op.key, op.status)
            and not (isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR")}


def verdict(files: RunFiles, results: dict[str, dict[str, Any]], gates: dict[str, dict[str, Any]]
            ) -> dict[str, Any]:
    promise = promise_of(files.dir, files.run, files.events, files.spec, files.snapshot_wall)
    snapshot = files.snapshot if files.has(SNAPSHOT_FILE) else None
    runs = files.witness if files.has(WITNESS_FILE) else []
    ctx = Context(snapshot, runs, promise["windows"], promise["level"], received_start_tasks(files.dir))
    anomalies = classify(ctx, results, gates, built_to_succeed(files) if snapshot else set())
    parts = judged_parts(results, gates, anomalies)
    valid = merge([p["verdict"] for p in parts] + [INVALID if any(a["defect"] for a in anomalies) else VALID])
    return {"valid": valid, "promise": promise_json(promise), "anomalies": anomalies, "parts": parts,
            **summary(anomalies)}


def judged_parts(results: dict[str, dict[str, Any]], gates: dict[str, dict[str, Any]],
                 anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every checker and gate as the verdict counts it. A checker that said false only about anomalies that are
    all expected degradation (faults beyond the promise) is excused: it counts as held, and says why."""
    parts = []
    for kind, group in (("checker", results), ("gate", gates)):
        for name, result in group.items():
            value, reason = normal(result.get("valid")), result.get("reason") or "no reason given"
            own = [a for a in anomalies if a.get("checker") == name]
            excused = value is False and own and not any(a["defect"] for a in own)
            if excused:
                value, reason = VALID, f"expected degradation: {len(own)} anomalies, each beyond the promise ({reason})"
            parts.append({"name": name, "kind": kind, "verdict": value, "reason": reason, "excused": bool(excused)})
    return parts


__all__ = ["built_to_succeed", "judged_parts", "verdict"]
