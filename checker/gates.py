"""Gates: what must be true of a run before any checker's VALID means something.

Three gates - progress, faults, expected-work - turn a run that tested nothing (empty, every start failed, its
faults never took effect) into "unknown" with a reason; each returns {"valid": true | false | "unknown",
"reason": ..., ...}. What each gate requires: docs/verdicts.md#gates.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from history.events import FAIL, NEMESIS, OK
from history.faults import TOUCHED_KEYS, FaultWindow, effect_key, read_faults
from history.mistral import ERROR, SUCCESS
from history.run_dir import RUN_FILE, SNAPSHOT_FILE, SPEC_FILE, WITNESS_FILE, RunFiles

WITNESS_ACTION = "lab.witness"
MAX_LISTED = 50


# ---------------------------------------------------------------- progress
def progress_gate(files: RunFiles) -> dict[str, Any]:
    ops = [op for op in files.ops if op.process != NEMESIS]
    ok_ops = sum(1 for op in ops if op.status == OK)
    starts = [op for op in ops if op.f == "start"]
    figures: dict[str, Any] = {"ok_ops": ok_ops, "starts": len(starts)}
    missing: list[str] = []
    if ok_ops == 0:
        missing.append(f"no operation completed ok ({len(ops)} attempted)")
    if starts:
        created = _created_success(files, starts)
        failed_as_built = _ended_as_built_to_fail(files, starts)
        figures["ok_starts"] = sum(1 for op in starts if op.status == OK)
        figures["succeeded_executions"] = created
        if failed_as_built:
            figures["failed_as_declared"] = failed_as_built
        if figures["ok_starts"] == 0:
            missing.append(f"none of {len(starts)} starts was acknowledged")
        if created == 0 and failed_as_built == 0:
            missing.append("no execution of a workflow built to succeed reached SUCCESS" +
                           (" and none built to fail (expect: error) ended ERROR" if _built_to_fail(starts) else ""))
    if "exactly-once" in _checkers(files) and files.has(WITNESS_FILE):
        scope = {str(op.key) for op in starts}
        figures["witnessed_runs"] = sum(1 for r in files.witness if r.workflow_execution_id in scope)
        if figures["witnessed_runs"] == 0:
            missing.append("the witness saw no action run of this run's executions")
    return {"valid": "unknown" if missing else True, **figures,
            **({"reason": "no progress: " + "; ".join(missing)} if missing else {})}


def _built_to_fail(starts: list) -> set[str]:
    return {str(op.key) for op in starts
            if isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR"}


def _ended_as_built_to_fail(files: RunFiles, starts: list) -> int:
    """Executions a spec declared built to fail (expect: error) that ended ERROR: progress, as SUCCESS is for the
    others."""
    wanted = _built_to_fail(starts)
    if not wanted or not files.has(SNAPSHOT_FILE):
        return 0
    return sum(1 for e in files.snapshot["executions"] if e["id"] in wanted and e["state"] == ERROR)


def _created_success(files: RunFiles, starts: list) -> int:
    if not files.has(SNAPSHOT_FILE):
        return 0
    built_to_succeed = {str(op.key) for op in starts
                        if not (isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR")}
    return sum(1 for e in files.snapshot["executions"] if e["id"] in built_to_succeed and e["state"] == SUCCESS)


# ---------------------------------------------------------------- faults
def faults_gate(files: RunFiles) -> dict[str, Any]:
    """Every fault the run planned (test.yaml) or started (the history) applied and healed; a spec that lists
    faults never passes with none applied; a run with no test.yaml cannot say what it planned."""
    windows = read_faults(files.events, files.start_wall, files.snapshot_wall)
    listed = _fault_rows(files.planned_faults, windows)
    report: dict[str, Any] = {"planned": len(files.planned_faults), "started": sum(1 for w in windows if w.applied),
                              "applied": sum(1 for f in listed if f["applied"]), "faults": listed[:MAX_LISTED]}
    room = files.spec.get("fault_room") if isinstance(files.spec.get("fault_room"), dict) else {}
    if room.get("plans") is not None and room.get("holds") is not None and room["plans"] < room["holds"]:
        report["room_note"] = (f"the schedule planned {room['plans']} of the {room['holds']} faults the spec has "
                               "room for (jitter pushed the rest past the time limit)")
    problems = _fault_problems(files, listed)
    if problems:
        return {"valid": "unknown", **report, "reason": "; ".join(problems)}
    if not listed:
        return {"valid": True, **report, "note": "the spec lists no fault: nothing to apply"}
    return {"valid": True, **report}


def _fault_problems(files: RunFiles, listed: list[dict[str, Any]]) -> list[str]:
    problems = []
    if not files.has_spec:
        problems.append(f"no {SPEC_FILE}: which faults the run planned is unknown"
                        + (f" ({len(listed)} found in the history)" if listed else ""))
    elif spec_lists_faults(files.spec) and not listed:
        problems.append("the spec lists faults but the run scheduled none (0 planned, 0 started)")
    not_applied = [f for f in listed if not f["applied"]]
    if not_applied:
        first = not_applied[0]
        problems.append(f"{len(not_applied)} of {len(listed)} planned fault(s) did not take effect; first: "
                        f"#{first['index']} {first['fault']} on {first['target'] or 'its default target'}: "
                        f"{first['reason']}")
    unhealed = [f for f in listed if f["applied"] and f.get("heal_error")]
    if unhealed:
        first = unhealed[0]
        problems.append(f"{len(unhealed)} fault(s) whose heal failed may have lasted longer than planned; first: "
                        f"#{first['index']} {first['fault']}: {first['heal_error']} (judged until: "
                        f"{first['ended']})")
    return problems


def spec_lists_faults(spec: dict[str, Any]) -> bool:
    nemesis = spec.get("nemesis") if isinstance(spec.get("nemesis"), dict) else {}
    return bool(nemesis.get("faults") or nemesis.get("schedule"))


def _fault_rows(planned: list[dict[str, Any]], windows: list[FaultWindow]) -> list[dict[str, Any]]:
    """One row per planned fault (by schedule index), then any the history started that the plan lacks."""
    by_index = {w.index: w for w in windows}
    rows = []
    for position, plan in enumerate(planned):
        index = plan.get("index", position)
        window = by_index.pop(index, None)
        rows.append(_fault_row(index, plan.get("fault"), plan.get("target"), plan.get("at_s"), window))
    for window in by_index.values():
        rows.append({**_fault_row(window.index, window.fault, window.target, None, window),
                     "unplanned": True})
    return rows


def _fault_row(index: Any, fault: Any, target: Any, at_s: Any, window: FaultWindow | None) -> dict[str, Any]:
    applied, reason = fault_applied(window)
    row = {"index": index, "fault": fault, "target": target, "at_s": at_s, "applied": applied, "reason": reason}
    if window is not None and window.applied:
        row["ended"] = window.end_rule
        if window.heal_error:
            row["heal_error"] = window.heal_error
    return row


def fault_applied(window: FaultWindow | None) -> tuple[bool, str]:
    """(applied, why): started without error and touched something; for a fault whose effect is known only at
    heal (message-loss purges, rpc matches), only when that heal answered with the list non-empty."""
    if window is None:
        return False, "never started: the run ended first"
    if window.started is not True:
        return False, (f"start failed: {window.start_error}" if window.started is False else
                       window.start_error or "started but never answered (the run was cut short)")
    for key in TOUCHED_KEYS + ("cut",):
        if key in window.done and not window.done[key]:
            return False, f"started, but touched nothing ({key}: empty)"
    if "from" in window.done and "to" in window.done and window.done["from"] == window.done["to"]:
        return False, f"scale left the role at {window.done['to']} node(s)"
    key = effect_key(window)
    if key is None:
        return True, "applied"
    if window.healed is None:
        return False, f"started, but its heal never answered: what it touched ({key}) is known only then"
    if window.healed is False:
        return False, f"heal failed, so what it touched ({key}) is unknown: {window.heal_error}"
    if not window.heal_result.get(key):
        why = f"; {window.heal_result['error']}" if window.heal_result.get("error") else ""
        return False, f"healed, but touched nothing ({key}: empty){why}"
    return True, "applied"


# ---------------------------------------------------------------- expected work
def expected_work_gate(files: RunFiles) -> dict[str, Any]:
    """Every SUCCESS execution did what its workflow must: false on any that did not (one with no task at all
    always did not); unknown when there was nothing to check; a workflow file whose shape is decided at run time
    is said to be unchecked, plainly."""
    starts = {str(op.key): op.invoke_value for op in files.ops
              if op.f == "start" and op.key is not None and op.status != FAIL}
    if not starts:
        return {"valid": True, "checked": 0, "applicable": False,
                "note": "the workload starts no execution: no work to check"}
    if not files.has(SNAPSHOT_FILE):
        return {"valid": "unknown", "checked": 0, "reason": f"no {SNAPSHOT_FILE}: the work done cannot be read"}
    found = _work_found(files.snapshot)
    succeeded = [e for e in files.snapshot["executions"] if e["id"] in starts and e["state"] == SUCCESS]
    wrong, unchecked = [], []
    for execution in succeeded:
        want = starts[execution["id"]] if isinstance(starts[execution["id"]], dict) else {}
        off = _work_off(want, found["tasks"][execution["id"]], found["actions"][execution["id"]])
        if off is None:
            unchecked.append(execution["id"])
        elif off:
            wrong.append({"execution_id": execution["id"], "workflow": execution.get("workflow_name"), **off})
    report: dict[str, Any] = {"checked": len(succeeded) - len(unchecked), "unchecked": len(unchecked),
                              "wrong_count": len(wrong), "wrong": wrong[:MAX_LISTED]}
    return {**report, **_work_verdict(files, report, wrong, len(succeeded))}


def _work_found(snapshot: dict[str, Any]) -> dict[str, Counter]:
    tasks = Counter(t.get("workflow_execution_id") for t in snapshot["tasks"])
    task_owner = {t["id"]: t.get("workflow_execution_id") for t in snapshot["tasks"]}
    actions = Counter(task_owner.get(a.get("task_execution_id")) for a in snapshot["action_executions"]
                      if a.get("name") == WITNESS_ACTION and a.get("state") == SUCCESS)
    return {"tasks": tasks, "actions": actions}


def _work_off(want: dict[str, Any], tasks: int, actions: int) -> dict[str, Any] | None:
    """What differs from the recorded expectation; None when the start recorded none (and the execution has
    tasks: a SUCCESS execution with no task did no work whatever its workflow)."""
    wanted = {"tasks": want.get("expected_tasks"), "actions": want.get("expected_actions")}
    if tasks == 0:
        return {"tasks": {"expected": wanted["tasks"] or "at least 1", "found": 0}}
    if wanted["tasks"] is None and wanted["actions"] is None:
        return None
    found = {"tasks": tasks, "actions": actions}
    return {k: {"expected": wanted[k], "found": found[k]} for k in found
            if wanted[k] is not None and wanted[k] != found[k]}


def _work_verdict(files: RunFiles, report: dict[str, Any], wrong: list[dict], succeeded: int) -> dict[str, Any]:
    if wrong:
        first = wrong[0]
        detail = ", ".join(f"{k} {v['found']} (expected {v['expected']})" for k, v in first.items()
                           if isinstance(v, dict))
        return {"valid": False, "reason": f"{len(wrong)} SUCCESS execution(s) did not do what their workflow must "
                                          f"do; first {first['execution_id']}: {detail}"}
    if succeeded == 0:
        starts = [op for op in files.ops if op.f == "start" and op.key is not None and op.status != FAIL]
        failed = _ended_as_built_to_fail(files, starts)
        if failed:  # the work of a workflow built to fail is its ERROR end, which the progress gate counts
            return {"valid": True, "note": f"{failed} execution(s) built to fail (expect: error) ended ERROR as "
                                           "declared; no SUCCESS execution had work to check"}
        return {"valid": "unknown", "reason": "no SUCCESS execution to check the work of"}
    if report["unchecked"] and _shape_at_run_time(files):
        return {"valid": True, "note": f"could not check {report['unchecked']} of {succeeded} SUCCESS executions: "
                                       "their workflow file leaves its shape to run time (each had tasks)"}
    if report["unchecked"]:
        return {"valid": "unknown", "reason": f"{report['unchecked']} of {succeeded} SUCCESS executions have no "
                                              "recorded expected work (expected_tasks) to check against"}
    return {"valid": True}


def _shape_at_run_time(files: RunFiles) -> bool:
    """A user's workflow file: the lab records expected work only where the file fixes it (workloads.workflow_file)."""
    return (files.run.get("workload") or {}).get("name") == "workflow" if files.has(RUN_FILE) else False


# ---------------------------------------------------------------- helpers
def _checkers(files: RunFiles) -> list[str]:
    return list(files.run.get("workload", {}).get("checkers") or [])




GATES = {"progress": progress_gate, "faults": faults_gate, "expected-work": expected_work_gate}

__all__ = ["GATES", "expected_work_gate", "fault_applied", "faults_gate", "progress_gate", "spec_lists_faults"]
