"""What became of every RPC message the `rpc` fault matched, from the run's own files.

    check_rpc(files) -> {"valid": true | "unknown", "messages": [{...match, "fault", "consequence", ...}], ...}

Informative: its true never vouches for a run; `cite` adds to each anomaly the messages whose ids it shares.
What is looked up and how a consequence is named: docs/verdicts.md#the-rpc-checker.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterable

from checker.promise import FaultWindow, heartbeats_lost_s, promise_of, role_of, rpc_placement, setting
from history.run_dir import RunFiles
from history.mistral import ERROR, mistral_time
from history.witness import WitnessRun
from history.run_dir import SNAPSHOT_FILE, WITNESS_FILE

HEARTBEAT = "Heartbeat wasn't received"
MAX_LISTED = 200
CITED = ("method", "side", "action", "node", "time", "index")


# ---------------------------------------------------------------- the matched messages
def matched_messages(windows: Iterable[FaultWindow]) -> list[dict[str, Any]]:
    """Every message an rpc fault matched, with the label of its fault window, in time order."""
    found = [{**match, "fault": window.label} for window in windows if window.fault == "rpc"
             for match in window.matches or []]
    return sorted(found, key=lambda m: m.get("time") or 0.0)


def clock(epoch: Any) -> str:
    """An epoch time as the report shows it: 16:02:07.4 UTC."""
    if not isinstance(epoch, (int, float)):
        return "?"
    stamp = datetime.fromtimestamp(float(epoch), tz=timezone.utc)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 100_000} UTC"


def describe(message: dict[str, Any]) -> str:
    """'drop on_action_complete on engine-1 at 16:02:07.4 UTC' (the side when it is the sender's)."""
    side = " (send)" if message.get("side") == "send" else ""
    return (f"{message.get('action')} {message.get('method')}{side} on {message.get('node') or '?'} at "
            f"{clock(message.get('time'))}")


class Lookup:
    """The snapshot indexed by id, and what a message's ids reach: action, task and workflow executions."""

    def __init__(self, executions: dict[str, dict], tasks: dict[str, dict], actions: dict[str, dict]) -> None:
        self.executions, self.tasks, self.actions = executions, tasks, actions

    @classmethod
    def of(cls, snapshot: dict[str, Any] | None) -> "Lookup":
        snapshot = snapshot or {}
        return cls({e["id"]: e for e in snapshot.get("executions") or []},
                   {t["id"]: t for t in snapshot.get("tasks") or []},
                   {a["id"]: a for a in snapshot.get("action_executions") or []})

    def reach(self, message: dict[str, Any]) -> dict[str, list[str]]:
        """The action, task and workflow execution ids a message concerns, completed from the snapshot (a
        workflow execution's root too: an anomaly names the execution a client started)."""
        ids = message.get("ids") if isinstance(message.get("ids"), dict) else {}
        actions = [str(a) for a in _listed(ids.get("action_execution_id")) + _listed(ids.get("action_execution_ids"))]
        tasks = [str(t) for t in _listed(ids.get("task_execution_id"))]
        flows = [str(w) for w in _listed(ids.get("workflow_execution_id")) + _listed(ids.get("execution_id"))]
        for action_id in actions:
            task_id = (self.actions.get(action_id) or {}).get("task_execution_id")
            if task_id and task_id not in tasks:
                tasks.append(task_id)
        for task_id in tasks:
            flow = (self.tasks.get(task_id) or {}).get("workflow_execution_id")
            if flow and flow not in flows:
                flows.append(flow)
        for flow in list(flows):
            root = (self.executions.get(flow) or {}).get("root_execution_id")
            if root and root not in flows:
                flows.append(root)
        return {"action_execution_ids": actions, "task_execution_ids": tasks, "workflow_execution_ids": flows}


def _listed(value: Any) -> list[Any]:
    if value in (None, "", []):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def concerned_executions(window: FaultWindow, lookup: Lookup) -> set[str] | None:
    """The workflow executions an rpc window's messages concerned, when it only touched those: a dropped,
    delayed or duplicated message affects its own execution, a crash everything on the node (None), as does a
    message the snapshot cannot place (None: every overlapping execution stays touched)."""
    if window.fault != "rpc" or window.matches is None:
        return None
    found: set[str] = set()
    for match in window.matches:
        flows = lookup.reach(match)["workflow_execution_ids"]
        if match.get("action") == "crash-after" or not flows:
            return None
        found.update(flows)
    return found


# ---------------------------------------------------------------- consequences
def _info(lookup: Lookup, action: dict[str, Any]) -> str:
    task = lookup.tasks.get(action.get("task_execution_id") or "") or {}
    return str(action.get("state_info") or task.get("state_info") or "")


def _after_s(record: dict[str, Any], message: dict[str, Any]) -> float | None:
    at, when = mistral_time(record.get("updated_at")), message.get("time")
    if at is None or not isinstance(when, (int, float)):
        return None
    return round(at - float(when), 1)


def _beat_s(record: dict[str, Any], message: dict[str, Any]) -> float | None:
    """When the engine last recorded a heartbeat of the action, in seconds relative to the message."""
    beat, when = mistral_time(record.get("last_heartbeat")), message.get("time")
    if beat is None or not isinstance(when, (int, float)):
        return None
    return round(beat - float(when), 1)


def _action_fate(lookup: Lookup, action: dict[str, Any] | None, runs: list[WitnessRun],
                 message: dict[str, Any]) -> tuple[str, float | None]:
    """'ERROR by the heartbeat check ("Heartbeat wasn't received") 12 s after the message', and those seconds."""
    if action is None:
        return "unknown to Mistral", None
    state = str(action.get("state"))
    if state == ERROR:
        after = _after_s(action, message)
        when = f" {after:g} s after the message" if after is not None else ""
        info = _info(lookup, action)
        if HEARTBEAT in info:
            beat = _beat_s(action, message)
            beat_text = f" (last heartbeat {beat:+g} s)" if beat is not None else ""
            return f"ERROR by the heartbeat check (\"{HEARTBEAT}\"){when}{beat_text}", after
        return f"ERROR{when}: {info.splitlines()[0][:120] if info else 'no state_info'}", after
    if state == "RUNNING":
        return "still RUNNING at the snapshot (stuck)", None
    return state, None


def _runs_text(runs: list[WitnessRun]) -> str:
    if not runs:
        return "no witness run"
    done = sum(1 for r in runs if r.completed)
    where = ", ".join(sorted({r.executor for r in runs if r.executor})) or "?"
    return f"{len(runs)} witness run(s) on {where}, {done} completed"


def consequence(message: dict[str, Any], lookup: Lookup, runs_of: dict[str, list[WitnessRun]],
                starts: dict[str, Any]) -> dict[str, Any]:
    """One message's consequence: what Mistral and the witness show for the executions it carried."""
    reach = lookup.reach(message)
    method, action_kind, node = message.get("method"), message.get("action"), message.get("node") or "?"
    flows = reach["workflow_execution_ids"]
    flow = lookup.executions.get(flows[0]) if flows else None
    workflow_state = flow.get("state") if flow else None
    action_ids = reach["action_execution_ids"]
    entry: dict[str, Any] = {**message, "action_execution_ids": action_ids,
                             "workflow_execution_id": flows[0] if flows else None,
                             "workflow_state": workflow_state}
    wf_text = (f"workflow {flows[0]} {workflow_state}" if flow else
               f"workflow {flows[0]} unknown to Mistral" if flows else "no workflow execution carried")
    if len(action_ids) > 1:  # heartbeats: one message reports every action running on the executor
        fates = []
        for action_id in action_ids:
            record = lookup.actions.get(action_id)
            runs = runs_of.get(action_id, [])
            fates.append({"id": action_id, "state": record.get("state") if record else None,
                          "witness_runs": len(runs), "completed_runs": sum(1 for r in runs if r.completed),
                          "heartbeat_failed": bool(record and record.get("state") == ERROR
                                                   and HEARTBEAT in _info(lookup, record))})
        counts = Counter(str(f["state"]) for f in fates)
        failed = [f for f in fates if f["heartbeat_failed"]]
        entry.update(action_state=dict(counts), actions=fates,
                     witness_runs=sum(f["witness_runs"] for f in fates))
        entry["consequence"] = (
            f"{action_kind} {method} on {node} for {len(fates)} action(s): "
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            + (f"; {len(failed)} failed by the heartbeat check, {sum(1 for f in failed if f['completed_runs'])} "
               "of them completed per the witness (result lost)" if failed else ""))
        return entry
    action_id = action_ids[0] if action_ids else None
    record = lookup.actions.get(action_id) if action_id else None
    runs = runs_of.get(action_id, []) if action_id else []
    fate, after = _action_fate(lookup, record, runs, message)
    entry.update(action_execution_id=action_id, action_state=record.get("state") if record else None,
                 witness_runs=len(runs), completed_runs=sum(1 for r in runs if r.completed),
                 seconds_to_error=after if record and record.get("state") == ERROR else None,
                 last_heartbeat_s=_beat_s(record, message) if record else None)
    entry["consequence"] = _name(message, record, runs, fate, wf_text, flows, starts)
    return entry


def _name(message: dict[str, Any], record: dict[str, Any] | None, runs: list[WitnessRun], fate: str,
          wf_text: str, flows: list[str], starts: dict[str, Any]) -> str:
    method, kind, node = message.get("method"), message.get("action"), message.get("node") or "?"
    side = message.get("side")
    done = sum(1 for r in runs if r.completed)
    action_text = f"action {fate}, {_runs_text(runs)}; {wf_text}"
    if kind == "crash-after":
        return f"{node} killed right after it {'handled' if side == 'receive' else 'sent'} {method}: " + (
            _start_text(flows, starts, wf_text) if method == "start_workflow" else action_text)
    if method == "start_workflow":
        return f"{kind} {method}: {_start_text(flows, starts, wf_text)}"
    if method == "run_action" and kind == "duplicate":
        if len(runs) >= 2:
            return (f"duplicate delivered, witness saw {len(runs)} runs: Mistral did not deduplicate "
                    f"(action {fate}; {wf_text})")
        if len(runs) == 1:
            return f"duplicate delivered, witness saw one run: Mistral deduplicated (action {fate}; {wf_text})"
        return f"duplicate delivered, witness saw no run (action {fate}; {wf_text})"
    if method == "run_action" and kind == "drop":
        if not runs:
            return f"run_action lost: the action never ran (no witness run); action {fate}; {wf_text}"
        return f"run_action dropped, yet the action ran: {_runs_text(runs)}; action {fate}; {wf_text}"
    if method in ("on_action_complete", "on_action_update") and kind == "drop":
        ran = "the witness saw the run complete" if done else "no completed witness run"
        if record is not None and record.get("state") == "SUCCESS":
            return f"result dropped, yet the action is SUCCESS anyway ({ran}); {wf_text}"
        return f"result lost: {ran}; action {fate}; {wf_text}"
    if kind == "duplicate":
        return f"{method} delivered twice: {action_text}"
    if kind == "delay":
        return f"{method} delivered late: {action_text}"
    return f"{kind} {method}: {action_text}"


def _start_text(flows: list[str], starts: dict[str, Any], wf_text: str) -> str:
    if not flows:
        return wf_text
    op = starts.get(flows[0])
    client = "no client start in the history" if op is None else \
        f"the client's start ended {op.status}" + (f" ({str(op.error)[:80]})" if op.error else "")
    return f"{wf_text}; {client}"


# ---------------------------------------------------------------- what Mistral logged about them
LOG_LEVELS = (" WARNING ", " ERROR ", " CRITICAL ")
ALREADY_COMPLETED = "is already completed"
MAX_LOG_LINES = 3


def log_lines(run_dir: Any, ids: set[str]) -> dict[str, list[str]]:
    """id -> up to MAX_LOG_LINES 'node: line' warnings or errors naming it in logs/<node>.log (the hook's own
    lines left out): the heartbeat checker failing an action, an engine refusing a second result."""
    found: dict[str, list[str]] = {}
    folder = run_dir / "logs"
    if not ids or not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.log")):
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not any(level in line for level in LOG_LEVELS) or "mistral_lab_rpc" in line:
                        continue
                    for hit in (i for i in ids if i in line):
                        if len(found.setdefault(hit, [])) < MAX_LOG_LINES:
                            found[hit].append(f"{path.stem}: {line.strip()[:240]}")
        except OSError:
            continue
    return found


# ---------------------------------------------------------------- the checker
def check_rpc(files: RunFiles) -> dict[str, Any]:
    overrides = files.run.get("overrides") or {}
    promise = promise_of(files.dir, files.run, files.events, files.spec, files.snapshot_wall)  # outages known
    windows = promise["windows"]
    rpc_windows = [w for w in windows if w.fault == "rpc"]
    unheard = [w.label for w in rpc_windows if w.matches is None]
    messages = matched_messages(rpc_windows)
    result: dict[str, Any] = {"valid": True, "faults": len(rpc_windows), "matched": len(messages)}
    missing = [name for name in (SNAPSHOT_FILE, WITNESS_FILE) if not files.has(name)]
    if messages and missing:
        return {**result, "valid": "unknown", "messages": messages[:MAX_LISTED],
                "reason": f"cannot name the consequences: {', '.join(missing)} missing"}
    lookup = Lookup.of(files.snapshot if messages else None)
    runs_of: dict[str, list[WitnessRun]] = {}
    for run in files.witness if messages else []:
        runs_of.setdefault(str(run.action_execution_id), []).append(run)
    starts = {str(op.key): op for op in files.started_ops()}
    window_s, counts = promise["heartbeat_window_s"], promise["topology"]
    interval = setting(overrides, "action_heartbeat", "check_interval")
    by_window = {w.label: w for w in rpc_windows}
    logged = log_lines(files.dir, {a for m in messages for a in lookup.reach(m)["action_execution_ids"]})
    named = []
    for message in messages:
        entry = consequence(message, lookup, runs_of, starts)
        lines = [line for a in entry["action_execution_ids"] for line in logged.get(a, [])][:MAX_LOG_LINES]
        if lines:
            entry["log"] = lines
        if message.get("action") == "duplicate" and any(ALREADY_COMPLETED in line for line in lines):
            entry["consequence"] += "; an engine refused the second result (\"already completed\", in its log)"
        window = by_window.get(message["fault"])
        rule = (window.done.get("rule") if window and isinstance(window.done.get("rule"), dict) else {}) or {}
        role = role_of(str(message.get("node") or ""))
        left = {**counts, role: counts.get(role, 0) - 1} if message.get("action") == "crash-after" else None
        placed = rpc_placement(str(message.get("method")), str(message.get("side")), str(message.get("action")),
                               role, overrides=overrides, window_s=window_s, counts=counts, left=left,
                               delay_s=float(rule.get("delay_ms") or 0) / 1000.0,
                               outage=window.outage_s if window else 0.0,
                               lost_s=heartbeats_lost_s(window.matches or [], interval) if window else None,
                               call=message.get("call"))
        entry["inside"] = {level: placed[level][0] for level in placed}
        entry["reasons"] = {level: placed[level][1] for level in placed}
        named.append(entry)
    result["messages"] = named[:MAX_LISTED]
    result["consequences"] = dict(Counter(_kind_of(e) for e in named))
    errors = [e["seconds_to_error"] for e in named if isinstance(e.get("seconds_to_error"), (int, float))]
    if errors:
        result["seconds_to_error"] = {"min": min(errors), "max": max(errors), "count": len(errors)}
    if unheard:
        result.update(valid="unknown", reason=f"the heal of {', '.join(unheard)} returned no matched messages "
                                              "(it failed or never ran): their consequences cannot be named")
    return result


def _kind_of(entry: dict[str, Any]) -> str:
    """A short grouping key: 'drop on_action_complete: ERROR', 'duplicate run_action: 2 runs'."""
    head = f"{entry.get('action')} {entry.get('method')}"
    if entry.get("method") == "run_action" and entry.get("action") == "duplicate":
        return f"{head}: {entry.get('witness_runs')} witness run(s)"
    state = entry.get("action_state")
    if isinstance(state, dict) or state is None:
        state = entry.get("workflow_state")
    return f"{head}: {state}"


# ---------------------------------------------------------------- citations on anomalies
def cite(anomalies: list[dict[str, Any]], windows: Iterable[FaultWindow], lookup: Lookup) -> None:
    """Give every anomaly whose execution, task or action execution ids a matched message carried
    `rpc_messages` (method, side, action, node, time, index) and say "follows ..." in its summary and evidence."""
    messages = [(m, lookup.reach(m)) for m in matched_messages(windows)]
    if not messages:
        return
    for anomaly in anomalies:
        actions = set(anomaly.get("action_execution_ids") or [])
        task, flow = anomaly.get("task_execution_id"), anomaly.get("execution_id")
        cited = [m for m, reach in messages
                 if actions & set(reach["action_execution_ids"]) or (task and task in reach["task_execution_ids"])
                 or (flow and flow in reach["workflow_execution_ids"])]
        if not cited:
            continue
        anomaly["rpc_messages"] = [{**{k: m.get(k) for k in CITED}, "fault": m.get("fault")} for m in cited[:10]]
        more = f" (and {len(cited) - 1} more rpc message(s))" if len(cited) > 1 else ""
        line = f"follows {describe(cited[0])}{more}"
        anomaly["summary"] = f"{anomaly.get('summary')}; {line}"
        anomaly["evidence"] = [line, *(anomaly.get("evidence") or [])][:6]


__all__ = ["Lookup", "check_rpc", "cite", "clock", "concerned_executions", "consequence", "describe",
           "matched_messages"]
