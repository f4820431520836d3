"""The promise a run is judged against, at two levels (`designed`, `spec`), for every fault window of the run.

Each window gets the fault's duration, the outage as Mistral lives it (the fault plus oslo.messaging / oslo.db
reconnect back-off, stretched by the reconnects checker.logs found) and inside/outside each level with the
reason. Faults inside the Mistral processes are placed per message or per node by checker.promise_placement.
The rules in full: docs/verdicts.md#the-promise.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checker.promise_base import (LEVELS, MISTRAL_ROLES, delivery, heartbeat_window_s, outage_s,
                                  reconnect_allowance_s, setting)
from checker.promise_placement import clock_offset_s, heartbeats_lost_s, place_clock, place_rpc, rpc_placement
from history.events import Event
from history.faults import FaultWindow, fault_windows, role_of, touched_nodes
from history.run_dir import TOPOLOGY_FILE

INFRA = ("db", "broker")


# ---------------------------------------------------------------- judging one window
def judge(window: FaultWindow, counts: dict[str, int], overrides: dict[str, dict[str, Any]],
          window_s: float) -> None:
    """Fill window.inside / window.reasons for both levels."""
    roles = {role_of(n) for n in window.nodes} or {str(window.done.get("role") or window.target or "")} - {""}
    window.fault_s = round((window.end - window.start) if window.end is not None else 0.0, 2)  # see history.faults
    window.outage_s = outage_s(window.kind, roles, window.fault_s, overrides)
    if window.fault == "rpc":
        placed = place_rpc(window, counts, overrides, window_s)
    elif window.fault == "clock":
        placed = place_clock(window, overrides, window_s)
    else:
        placed = {"designed": _designed(window, roles, counts, window_s, overrides), "spec": _spec(window, counts)}
    window.inside = {level: placed[level][0] for level in LEVELS}
    window.reasons = {level: placed[level][1] for level in LEVELS}


def _survivors(window: FaultWindow, counts: dict[str, int]) -> dict[str, int]:
    hit = {role: sum(1 for n in window.nodes if role_of(n) == role) for role in MISTRAL_ROLES}
    if window.fault == "scale" and window.done.get("role") in MISTRAL_ROLES and isinstance(window.done.get("to"), int):
        return {**{r: counts.get(r, 0) for r in MISTRAL_ROLES}, window.done["role"]: window.done["to"]}
    return {role: counts.get(role, 0) - hit[role] for role in MISTRAL_ROLES}


def _spec(window: FaultWindow, counts: dict[str, int]) -> tuple[bool, str]:
    left = _survivors(window, counts)
    gone = [role for role in MISTRAL_ROLES if counts.get(role, 0) and left[role] < 1]
    if gone:
        return False, f"no {', '.join(gone)} kept running: the spec asks for one node per role"
    return True, "one api, engine and executor kept running; DB and broker losses are temporary"


def _designed(window: FaultWindow, roles: set[str], counts: dict[str, int], window_s: float,
              overrides: dict[str, dict[str, Any]] | None = None) -> tuple[bool, str]:
    fault, outage = window.kind, window.outage_s
    short = f"outage {outage:g} s (fault {window.fault_s:g} s + reconnect) vs heartbeat window {window_s:g} s"
    if fault == "message-loss":
        return False, ("RPC messages for a role that was wholly away were lost in the broker: no driver brings back a "
                       f"message the broker dropped ({delivery(overrides or {})})")
    if fault in ("broker", "db") or (roles & set(INFRA) and not roles & set(MISTRAL_ROLES)):
        return outage < window_s, short
    if fault in ("partition", "netem") and roles & {"engine", "executor"}:
        return outage < window_s, short  # engines or executors cut off: heartbeats and RPC stop
    if "executor" in roles:
        if fault == "kill" or window.done.get("killed"):
            return False, ("an executor was lost: Mistral may fail the actions it was running "
                           f"({delivery(overrides or {})})")
        if fault == "pause":
            return outage < window_s, short
        return True, "executors stopped gracefully or scaled: their actions must complete"
    left = _survivors(window, counts)
    if "engine" in roles and left["engine"] < 1 and outage >= window_s:
        return False, f"every engine was away and {short}"
    return True, "API or engine nodes lost while others ran, or a scale step: everything must complete"


# ---------------------------------------------------------------- the whole run
def promise_of(run_dir: Path, run: dict[str, Any], events: list[Event], spec: dict[str, Any],
               snapshot_wall: float | None = None) -> dict[str, Any]:
    """The level the run is judged at, the heartbeat window, and every fault window judged at both levels."""
    overrides = run.get("overrides") or {}
    level = spec.get("promise") or "designed"
    window_s = float(spec.get("heartbeat_window_s") or heartbeat_window_s(overrides))
    counts = topology_counts(run_dir, spec)
    windows = fault_windows(events, float(run.get("start_wall") or 0.0), snapshot_wall)
    for window in windows:
        judge(window, counts, overrides, window_s)
    return {"level": level if level in LEVELS else "designed", "heartbeat_window_s": window_s,
            "topology": counts, "windows": windows}


def topology_counts(run_dir: Path, spec: dict[str, Any]) -> dict[str, int]:
    path = run_dir / TOPOLOGY_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    cluster = spec.get("cluster") if isinstance(spec.get("cluster"), dict) else {}
    return {role: int(data.get(f"{role}s", cluster.get(f"{role}s", 1)) or 0) for role in MISTRAL_ROLES}


def promise_json(promise: dict[str, Any]) -> dict[str, Any]:
    return {**promise, "windows": [w.to_json() for w in promise["windows"]]}


__all__ = ["FaultWindow", "LEVELS", "clock_offset_s", "fault_windows", "heartbeat_window_s", "heartbeats_lost_s",
           "judge", "outage_s", "promise_json", "promise_of", "reconnect_allowance_s", "role_of", "rpc_placement",
           "setting", "topology_counts", "touched_nodes"]
