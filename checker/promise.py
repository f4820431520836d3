"""The promise a run is judged against, at two levels, for every fault window of the run.

`designed`: what Mistral 23 documents and is configured for. An action whose executor is lost (killed, or
heartbeats stopped for longer than check_interval x max_missed_heartbeats) may be failed; everything else must
complete: API nodes lost, engines lost or stopped gracefully while another runs, executors stopped gracefully,
broker or DB outages and partitions shorter than the heartbeat window, scale up or down. Lost RPC messages
are outside it (oslo.messaging acknowledges before dispatch: at-most-once).

`spec`: the goal of the Mistral "HA and Scalability" spec: workflows already started finish whatever the
topology does, as long as one api, engine and executor runs; a temporary loss of the database or the broker
does not take away the ability to finish them; a non-idempotent action never runs twice.

The outage as Mistral lives it is longer than the fault: after a broker restart or a tcp-reset,
oslo.messaging reconnects with its own back-off (rabbit_retry_interval, rabbit_retry_backoff,
rabbit_interval_max, kombu_reconnect_delay), oslo.db likewise (db_retry_interval, db_max_retry_interval).
Each window reports both the fault's duration and that estimated outage; a reconnect the node logs show
(checker.logs) stretches it further.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from history.events import INVOKE, NEMESIS, OK, Event

LEVELS = ("designed", "spec")
MISTRAL_ROLES = ("api", "engine", "executor")
INFRA = ("db", "broker")
# Mistral 23 / oslo defaults for the settings that decide how long an outage lasts for Mistral.
DEFAULTS = {
    ("action_heartbeat", "check_interval"): 20.0,
    ("action_heartbeat", "max_missed_heartbeats"): 15.0,
    ("oslo_messaging_rabbit", "rabbit_retry_interval"): 1.0,
    ("oslo_messaging_rabbit", "rabbit_retry_backoff"): 2.0,
    ("oslo_messaging_rabbit", "rabbit_interval_max"): 30.0,
    ("oslo_messaging_rabbit", "kombu_reconnect_delay"): 1.0,
    ("database", "db_retry_interval"): 1.0,
    ("database", "db_max_retry_interval"): 10.0,
}
TOUCHED_KEYS = ("killed", "paused", "stopped", "nodes")


@dataclass
class FaultWindow:
    """One applied fault: when it was on (epoch seconds), what it touched, and whether it kept the promise."""

    index: int | None
    fault: str
    target: str | None
    options: dict[str, Any]
    start: float
    end: float | None
    nodes: list[str]
    done: dict[str, Any] = field(default_factory=dict)  # what the fault's start reported
    fault_s: float = 0.0
    outage_s: float = 0.0
    inside: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"#{self.index} {self.fault} {','.join(self.nodes) or self.target or ''}".strip()

    def overlaps(self, start: float, end: float) -> bool:
        return self.start <= end and (self.end is None or self.end >= start)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["label"] = self.label
        return data


# ---------------------------------------------------------------- configuration
def setting(overrides: dict[str, dict[str, Any]], section: str, option: str) -> float:
    try:
        return float((overrides.get(section) or {}).get(option, DEFAULTS[(section, option)]))
    except (TypeError, ValueError):
        return DEFAULTS[(section, option)]


def heartbeat_window_s(overrides: dict[str, dict[str, Any]]) -> float:
    return setting(overrides, "action_heartbeat", "check_interval") * \
        setting(overrides, "action_heartbeat", "max_missed_heartbeats")


def reconnect_allowance_s(down_s: float, interval: float, backoff: float, cap: float, extra: float = 0.0) -> float:
    """How long after the peer is back a client's retry loop notices: retries sleep interval, interval+backoff,
    ... (capped); the retry that first lands after `down_s` ends the outage."""
    slept, attempt = 0.0, 0
    while slept < down_s and attempt < 10_000:
        slept += min(interval + backoff * attempt, cap)
        attempt += 1
    return max(0.0, slept - down_s) + extra


def outage_s(fault: str, roles: set[str], fault_s: float, overrides: dict[str, dict[str, Any]]) -> float:
    """The fault as Mistral lives it: connection faults last until the client's back-off retries succeed."""
    messaging = fault in ("broker", "partition", "netem") or "broker" in roles
    database = fault == "db" or "db" in roles
    allowance = 0.0
    if messaging:
        allowance = max(allowance, reconnect_allowance_s(
            fault_s, setting(overrides, "oslo_messaging_rabbit", "rabbit_retry_interval"),
            setting(overrides, "oslo_messaging_rabbit", "rabbit_retry_backoff"),
            setting(overrides, "oslo_messaging_rabbit", "rabbit_interval_max"),
            setting(overrides, "oslo_messaging_rabbit", "kombu_reconnect_delay")))
    if database:
        allowance = max(allowance, reconnect_allowance_s(
            fault_s, setting(overrides, "database", "db_retry_interval"),
            setting(overrides, "database", "db_retry_interval"),
            setting(overrides, "database", "db_max_retry_interval")))
    return round(fault_s + allowance, 2)


# ---------------------------------------------------------------- windows from the history
def fault_windows(events: list[Event], start_wall: float) -> list[FaultWindow]:
    """Applied faults from the nemesis events: start ok .. heal ok (or the final whole-cluster heal)."""
    windows: list[FaultWindow] = []
    planned: dict[str, dict[str, Any]] = {}
    open_by_index: dict[Any, FaultWindow] = {}
    healing: dict[str, Any] = {}
    for event in events:
        if event.process != NEMESIS or not isinstance(event.value, dict):
            continue
        value, at = event.value, start_wall + event.time / 1e9
        action = value.get("action")
        if action == "start" and event.type == INVOKE:
            planned[event.f] = {**value, "at": at}
        elif action == "start" and event.type == OK and event.f in planned:
            plan = planned.pop(event.f)
            window = FaultWindow(plan.get("index"), event.f, plan.get("target"), dict(plan.get("options") or {}),
                                 plan["at"], None, touched_nodes(value, plan.get("target")),
                                 {k: v for k, v in value.items() if k != "action"})
            windows.append(window)
            open_by_index[plan.get("index")] = window
        elif action == "heal" and event.type == INVOKE:
            healing[event.f] = value.get("index")
        elif action == "heal" and event.type == OK and healing.get(event.f) in open_by_index:
            # The heal's answer carries no index: it answers the heal invoked last for this fault.
            open_by_index.pop(healing.pop(event.f)).end = at
        elif action == "heal-cluster" and event.type == OK:
            for window in open_by_index.values():
                window.end = at
            open_by_index.clear()
    return windows


def touched_nodes(done: dict[str, Any], target: str | None) -> list[str]:
    """The nodes a fault acted on, from what its start reported (falling back to its target)."""
    nodes: list[str] = []
    for key in TOUCHED_KEYS:
        if isinstance(done.get(key), list):
            nodes += [str(n) for n in done[key]]
    if isinstance(done.get("cut"), dict):
        nodes += [str(n) for n in done["cut"]]
    if isinstance(done.get("node"), str):
        nodes.append(done["node"])
    if not nodes and target and not target.startswith("random"):  # a role name is not a node: skip it
        nodes = [t for t in (t.strip() for t in str(target).split(",")) if role_of(t) != t or t in INFRA]
    return sorted(set(nodes))


def role_of(node: str) -> str:
    return node.rsplit("-", 1)[0] if node.rsplit("-", 1)[-1].isdigit() else node


# ---------------------------------------------------------------- judging one window
def judge(window: FaultWindow, counts: dict[str, int], overrides: dict[str, dict[str, Any]],
          window_s: float) -> None:
    """Fill window.inside / window.reasons for both levels."""
    roles = {role_of(n) for n in window.nodes} or {str(window.done.get("role") or window.target or "")} - {""}
    window.fault_s = round((window.end - window.start) if window.end is not None else 0.0, 2)
    window.outage_s = outage_s(window.fault, roles, window.fault_s, overrides)
    designed, why_designed = _designed(window, roles, counts, window_s)
    spec, why_spec = _spec(window, counts)
    window.inside = {"designed": designed, "spec": spec}
    window.reasons = {"designed": why_designed, "spec": why_spec}


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


def _designed(window: FaultWindow, roles: set[str], counts: dict[str, int], window_s: float) -> tuple[bool, str]:
    fault, outage = window.fault, window.outage_s
    short = f"outage {outage:g} s (fault {window.fault_s:g} s + reconnect) vs heartbeat window {window_s:g} s"
    if fault == "message-loss":
        return False, "lost RPC messages: oslo.messaging acknowledges before dispatch (at-most-once)"
    if fault in ("broker", "db") or (roles & set(INFRA) and not roles & set(MISTRAL_ROLES)):
        return outage < window_s, short
    if fault in ("partition", "netem") and roles & {"engine", "executor"}:
        return outage < window_s, short  # engines or executors cut off: heartbeats and RPC stop
    if "executor" in roles:
        if fault == "kill" or window.done.get("killed"):
            return False, "an executor was lost: Mistral may fail the actions it was running"
        if fault == "pause":
            return outage < window_s, short
        return True, "executors stopped gracefully or scaled: their actions must complete"
    left = _survivors(window, counts)
    if "engine" in roles and left["engine"] < 1 and outage >= window_s:
        return False, f"every engine was away and {short}"
    return True, "API or engine nodes lost while others ran, or a scale step: everything must complete"


# ---------------------------------------------------------------- the whole run
def promise_of(run_dir: Path, run: dict[str, Any], events: list[Event], spec: dict[str, Any]) -> dict[str, Any]:
    """The level the run is judged at, the heartbeat window, and every fault window judged at both levels."""
    overrides = run.get("overrides") or {}
    level = spec.get("promise") or "designed"
    window_s = float(spec.get("heartbeat_window_s") or heartbeat_window_s(overrides))
    counts = topology_counts(run_dir, spec)
    windows = fault_windows(events, float(run.get("start_wall") or 0.0))
    for window in windows:
        judge(window, counts, overrides, window_s)
    return {"level": level if level in LEVELS else "designed", "heartbeat_window_s": window_s,
            "topology": counts, "windows": windows}


def topology_counts(run_dir: Path, spec: dict[str, Any]) -> dict[str, int]:
    path = run_dir / "topology.json"
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


__all__ = ["FaultWindow", "LEVELS", "fault_windows", "heartbeat_window_s", "judge", "outage_s", "promise_json",
           "promise_of", "reconnect_allowance_s", "role_of", "topology_counts", "touched_nodes"]
