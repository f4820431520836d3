"""Run every applicable checker on a run directory, offline.

    check_run(run_dir, checkers=None, settle_s=None) -> {"valid": true|false|"unknown",
                                                         "checkers": {name: {"valid": ..., ...}}, "notes": [...]}

`checkers=None` takes the list from run.json (the workload's checkers). The gates (checker.gates: progress,
faults applied, expected work) always run too. Overall: false if any checker or gate is false, else "unknown"
if any is unknown (a run that exercised nothing is never VALID), else true. A checker that raises is
"unknown" with its error, never a missing verdict. A missing or malformed file is a LabError naming it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from checker.check import check_history
from checker.completion import check_completion, check_succeeded, default_settle_s
from checker.cron import check_cron
from checker.exactly_once import check_exactly_once
from checker.gates import GATES
from checker.perf import check_perf
from history.run_dir import RunFiles
from checker.verdict import judged_parts, verdict
from history.events import NEMESIS, HistoryError
from history.verdict import INVALID, UNKNOWN, label, merge
from history.run_dir import HISTORY_FILE, SNAPSHOT_FILE, WITNESS_FILE
from cluster.errors import LabError

LINEARIZABLE_TIME_LIMIT_S = 120.0


def _scoped_runs(files: RunFiles) -> list:
    ids = {str(op.key) for op in files.started_ops()} | {e["id"] for e in files.snapshot["executions"]}
    return [r for r in files.witness if r.workflow_execution_id in ids]


def _linearizable(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    model = files.run.get("workload", {}).get("model")
    if not model:
        raise LabError(f"{files.dir / 'run.json'}: the workload names no model for the linearizable check")
    try:
        result = check_history(files.events, model, time_limit=LINEARIZABLE_TIME_LIMIT_S)
    except HistoryError as exc:
        raise LabError(str(exc.located(str(files.dir / HISTORY_FILE)))) from None
    except KeyError as exc:
        raise LabError(str(exc.args[0])) from None
    return result.to_json()


def _exactly_once(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    return check_exactly_once(files.witness, files.snapshot, {str(op.key) for op in files.started_ops()})


def _settle(files: RunFiles, settle_s: float | None) -> float:
    if settle_s is not None:
        return settle_s
    recorded = files.run.get("settle_s")
    if isinstance(recorded, (int, float)):
        return float(recorded)
    return default_settle_s(files.run.get("overrides") or {})


def _completion(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    quiet = files.run.get("quiet_since_wall")
    if files.run.get("settle_finished") is False or not quiet:  # cut short (or a legacy 0.0): no window
        quiet = None
    return check_completion(files.started_ops(), files.snapshot, _scoped_runs(files), files.ops,
                            _settle(files, settle_s), quiet if isinstance(quiet, (int, float)) else None)


def _succeeded(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    return check_succeeded(files.started_ops(), files.snapshot)


def _perf(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    optional = {}
    for name, path in (("snapshot", SNAPSHOT_FILE), ("runs", WITNESS_FILE)):
        if files.has(path):
            optional[name] = files.snapshot if name == "snapshot" else _scoped_runs(files)
    return check_perf(files.ops, optional.get("snapshot"), optional.get("runs"))


def _cron(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    return check_cron(files)


def _rpc(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    from checker.rpc import check_rpc

    return check_rpc(files)


def _has_rpc_fault(files: RunFiles) -> bool:
    return files.has(HISTORY_FILE) and any(
        e.process == NEMESIS and e.f == "rpc" for e in files.events)


def _logs(files: RunFiles, settle_s: float | None) -> dict[str, Any]:
    from checker.logs import check_logs

    return check_logs(files.dir)


CHECKERS: dict[str, Callable[[RunFiles, float | None], dict[str, Any]]] = {
    "linearizable": _linearizable,
    "exactly-once": _exactly_once,
    "completion": _completion,
    "succeeded-despite-faults": _succeeded,
    "perf": _perf,
    "logs": _logs,
    "cron": _cron,
    "rpc": _rpc,
}


def overall(verdicts: list[Any]) -> bool | str:
    return merge(verdicts)


def check_run(run_dir: str | Path, checkers: list[str] | None = None, settle_s: float | None = None
              ) -> dict[str, Any]:
    files = RunFiles.open(run_dir)
    names = list(checkers) if checkers is not None else list(files.run.get("workload", {}).get("checkers") or [])
    if not names:
        raise LabError(f"{files.dir / 'run.json'}: names no checkers; pass them explicitly")
    unknown = [n for n in names if n not in CHECKERS]
    if unknown:
        raise LabError(f"unknown checker {unknown[0]!r} (known: {', '.join(CHECKERS)})")
    if (files.dir / "logs").is_dir() and "logs" not in names:
        names.append("logs")  # every stored run with node logs gets its logs scanned
    if "rpc" not in names and _has_rpc_fault(files):
        names.append("rpc")  # every run with an rpc fault says what became of each matched message
    results = {name: _guarded(CHECKERS[name], files, settle_s) for name in names}
    gates = {name: _guarded(lambda f, _s, gate=gate: gate(f), files, settle_s) for name, gate in GATES.items()}
    judged = _judged(files, results, gates)
    return {"valid": judged.pop("valid"), "run_dir": str(files.dir), **judged, "checkers": results,
            "gates": gates, "reasons": reasons(results, gates, judged), "notes": files.notes}


def _judged(files: RunFiles, results: dict[str, dict], gates: dict[str, dict]) -> dict[str, Any]:
    """Named anomalies and the verdict they give; if classifying crashes, the plain checker verdicts stand
    (never VALID on a crash: the error turns a pass into unknown)."""
    try:
        return verdict(files, results, gates)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - a classifier bug must not lose the run's verdict
        parts = judged_parts(results, gates, [])  # no anomaly: nothing excused
        plain = merge(p["verdict"] for p in parts)
        return {"valid": INVALID if plain is INVALID else UNKNOWN, "anomalies": [], "parts": parts,
                "classifier_error": f"{exc.__class__.__name__}: {exc}"}


def _guarded(check: Callable[[RunFiles, float | None], dict[str, Any]], files: RunFiles,
             settle_s: float | None) -> dict[str, Any]:
    """A user's bad file stays a LabError (one line, exit 3); a bug in a checker is an "unknown" verdict with
    the error, so the run still gets its results.json and the other checkers' verdicts."""
    try:
        return check(files, settle_s)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash must become a verdict, never a traceback
        return {"valid": "unknown", "error": f"{exc.__class__.__name__}: {exc}",
                "reason": f"the checker crashed ({exc.__class__.__name__}: {str(exc)[:200]})"}


def reasons(results: dict[str, dict], gates: dict[str, dict], judged: dict[str, Any] | None = None) -> list[str]:
    """One line per defect, then per checker or gate that is not a plain pass, from the same parts the verdict
    was merged from: a VALID run never lists an INVALID line."""
    judged = judged or {}
    lines = [f"DEFECT {a['class']}/{a['kind']}: {a['summary']}" for a in judged.get("anomalies") or []
             if a["defect"]][:20]
    if judged.get("classifier_error"):
        lines.append(f"UNKNOWN: classifying the anomalies crashed: {judged['classifier_error']}")
    parts = judged.get("parts")
    if parts is None:
        parts = judged_parts(results, gates, judged.get("anomalies") or [])
    for part in parts:
        if part["excused"]:
            lines.append(f"EXPECTED ({part['kind']} {part['name']}): {part['reason']}")
        elif part["verdict"] is not True:
            lines.append(f"{label(part['verdict'])} ({part['kind']} {part['name']}): {part['reason']}")
    return lines


__all__ = ["CHECKERS", "check_run", "overall", "reasons"]
