"""Gates: what must be true of a run before any checker's VALID means something.

A checker can only judge what happened. An empty run, a run whose starts all failed, or a run whose faults
never took effect passes every checker vacuously; the gates turn such a run into "unknown" with a reason:

- progress: some operation completed ok; a workload that starts executions got at least one start
  acknowledged and at least one execution built to succeed to SUCCESS; a witnessed workload saw at least
  one physical action run.
- faults: every planned fault (test.yaml `planned_faults`) was applied: started without error and touched
  at least one node. A fault whose effect is known only when it is healed (message-loss purges at heal) names
  the heal-result key that says what it touched in its start result (`effect_at_heal`); it is applied only
  when that heal answered with the key non-empty. Each planned fault is listed with `applied: true|false` and
  the reason.
- expected-work: every SUCCESS execution did what its workflow must do: as many task executions as
  `expected_tasks` and as many SUCCESS witness action executions as `expected_actions` (both recorded in the
  start op). Fewer or more is an anomaly, so this gate can be false, not only unknown.

Each gate returns {"valid": true | false | "unknown", "reason": ..., ...}.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from checker.run_files import RunFiles
from history.events import FAIL, INVOKE, NEMESIS, OK
from history.mistral import SUCCESS

WITNESS_ACTION = "lab.witness"
MAX_LISTED = 50
# Keys of a fault's start result that list what it touched; an empty list means nothing was touched.
TOUCHED_KEYS = ("killed", "paused", "stopped", "nodes", "cut")
# Start-result key naming the heal-result key that says what a fault touched, for faults that act at heal.
EFFECT_AT_HEAL = "effect_at_heal"


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
        figures["ok_starts"] = sum(1 for op in starts if op.status == OK)
        figures["succeeded_executions"] = created
        if figures["ok_starts"] == 0:
            missing.append(f"none of {len(starts)} starts was acknowledged")
        if created == 0:
            missing.append("no execution of a workflow built to succeed reached SUCCESS")
    if "exactly-once" in _checkers(files) and _has(files, "witness.jsonl"):
        scope = {str(op.key) for op in starts}
        figures["witnessed_runs"] = sum(1 for r in files.witness if r.workflow_execution_id in scope)
        if figures["witnessed_runs"] == 0:
            missing.append("the witness saw no action run of this run's executions")
    return {"valid": "unknown" if missing else True, **figures,
            **({"reason": "no progress: " + "; ".join(missing)} if missing else {})}


def _created_success(files: RunFiles, starts: list) -> int:
    if not _has(files, "mistral-snapshot.json"):
        return 0
    built_to_succeed = {str(op.key) for op in starts
                        if not (isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR")}
    return sum(1 for e in files.snapshot["executions"] if e["id"] in built_to_succeed and e["state"] == SUCCESS)


# ---------------------------------------------------------------- faults
def faults_gate(files: RunFiles) -> dict[str, Any]:
    planned = planned_faults(files.dir)
    outcomes = fault_outcomes(files)
    listed = []
    for index, plan in enumerate(planned):
        applied, reason = outcomes.get(plan.get("index", index), (False, "never started: the run ended first"))
        listed.append({"index": index, "fault": plan.get("fault"), "target": plan.get("target"),
                       "at_s": plan.get("at_s"), "applied": applied, "reason": reason})
    not_applied = [f for f in listed if not f["applied"]]
    report: dict[str, Any] = {"valid": "unknown" if not_applied else True, "planned": len(listed),
                              "applied": len(listed) - len(not_applied), "faults": listed[:MAX_LISTED]}
    if not_applied:
        first = not_applied[0]
        report["reason"] = (f"{len(not_applied)} of {len(listed)} planned fault(s) did not take effect; first: "
                            f"#{first['index']} {first['fault']} on {first['target'] or 'its default target'}: "
                            f"{first['reason']}")
    return report


def planned_faults(run_dir: Path) -> list[dict[str, Any]]:
    """The schedule the run meant to apply (written before anything started); [] for a run without one."""
    spec = run_dir / "test.yaml"
    if not spec.exists():
        return []
    try:
        data = yaml.safe_load(spec.read_text()) or {}
    except yaml.YAMLError:
        return []
    planned = data.get("planned_faults") if isinstance(data, dict) else None
    return [p for p in planned if isinstance(p, dict)] if isinstance(planned, list) else []


def fault_outcomes(files: RunFiles) -> dict[int, tuple[bool, str]]:
    """Schedule index -> (applied, reason), from the nemesis' start (and, for a fault that acts at heal, heal)
    events in the history."""
    outcomes: dict[int, tuple[bool, str]] = {}
    at_heal: dict[int, str] = {}  # index -> the heal-result key that decides whether it touched anything
    pending: int | None = None
    healing: int | None = None
    for event in files.events:
        if event.process != NEMESIS or not isinstance(event.value, dict):
            continue
        action = event.value.get("action")
        if action == "start" and event.type == INVOKE:
            pending = event.value.get("index")
        elif action == "start" and pending is not None:
            outcomes[pending] = _applied(event.type, event.value)
            key = event.value.get(EFFECT_AT_HEAL) if event.type == OK else None
            if key and outcomes[pending][0]:
                at_heal[pending] = str(key)
                outcomes[pending] = (False, f"started, but its heal never answered: what it touched ({key}) "
                                            "is known only then")
            pending = None
        elif action == "heal" and event.type == INVOKE:
            healing = event.value.get("index")
        elif action == "heal" and healing is not None:
            if healing in at_heal:
                outcomes[healing] = _applied_at_heal(event.type, event.value, at_heal.pop(healing))
            healing = None
    if pending is not None:
        outcomes[pending] = (False, "started but never answered (the run was cut short)")
    return outcomes


def _applied(kind: str, done: dict[str, Any]) -> tuple[bool, str]:
    if kind != OK:
        return False, f"start failed: {done.get('error') or 'no reason recorded'}"
    for key in TOUCHED_KEYS:
        if key in done and not done[key]:
            return False, f"started, but touched nothing ({key}: empty)"
    if "from" in done and "to" in done and done["from"] == done["to"]:
        return False, f"scale left the role at {done['to']} node(s)"
    return True, "applied"


def _applied_at_heal(kind: str, healed: dict[str, Any], key: str) -> tuple[bool, str]:
    if kind != OK:
        return False, f"heal failed, so what it touched ({key}) is unknown: {healed.get('error') or 'no reason'}"
    if not healed.get(key):
        why = f"; {healed['error']}" if healed.get("error") else ""
        return False, f"healed, but touched nothing ({key}: empty){why}"
    return True, "applied"


# ---------------------------------------------------------------- expected work
def expected_work_gate(files: RunFiles) -> dict[str, Any]:
    expected = {str(op.key): op.invoke_value for op in files.ops
                if op.f == "start" and op.status != FAIL and isinstance(op.invoke_value, dict)
                and "expected_tasks" in op.invoke_value}
    if not expected or not _has(files, "mistral-snapshot.json"):
        return {"valid": True, "checked": 0, "note": "no start recorded what its workflow must do"}
    snap = files.snapshot
    tasks = Counter(t.get("workflow_execution_id") for t in snap["tasks"])
    task_owner = {t["id"]: t.get("workflow_execution_id") for t in snap["tasks"]}
    actions = Counter(task_owner.get(a.get("task_execution_id")) for a in snap["action_executions"]
                      if a.get("name") == WITNESS_ACTION and a.get("state") == SUCCESS)
    wrong = []
    checked = 0
    for execution in snap["executions"]:
        want = expected.get(execution["id"])
        if want is None or execution["state"] != SUCCESS:
            continue
        checked += 1
        found = {"tasks": tasks[execution["id"]], "actions": actions[execution["id"]]}
        wanted = {"tasks": want.get("expected_tasks"), "actions": want.get("expected_actions")}
        off = {k: {"expected": wanted[k], "found": found[k]} for k in found
               if wanted[k] is not None and wanted[k] != found[k]}
        if off:
            wrong.append({"execution_id": execution["id"], "workflow": execution.get("workflow_name"), **off})
    report: dict[str, Any] = {"valid": not wrong, "checked": checked, "wrong_count": len(wrong),
                              "wrong": wrong[:MAX_LISTED]}
    if wrong:
        first = wrong[0]
        detail = ", ".join(f"{k} {v['found']} (expected {v['expected']})" for k, v in first.items()
                           if isinstance(v, dict))
        report["reason"] = (f"{len(wrong)} SUCCESS execution(s) did not do what their workflow must do; "
                            f"first {first['execution_id']}: {detail}")
    return report


# ---------------------------------------------------------------- helpers
def _checkers(files: RunFiles) -> list[str]:
    return list(files.run.get("workload", {}).get("checkers") or [])


def _has(files: RunFiles, name: str) -> bool:
    return (files.dir / name).exists()


GATES = {"progress": progress_gate, "faults": faults_gate, "expected-work": expected_work_gate}

__all__ = ["GATES", "expected_work_gate", "fault_outcomes", "faults_gate", "planned_faults", "progress_gate"]
