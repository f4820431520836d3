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

Faults inside the Mistral processes are placed per message or per node (`rpc_placement`, `_clock`):
- rpc drop on receive (lost after the broker's ack): outside designed (Mistral 23 never resends), inside spec
  (its goal, acknowledgement after processing, would redeliver the message);
- rpc drop on send (never reached the broker): outside both (the spec deems a completely lost message
  unrecoverable and asks only that operators can identify it);
- dropped report_running_actions: inside designed while the heartbeats lost span less than the heartbeat window;
- rpc delay: inside designed while shorter than what times the message out (the heartbeat window for results
  and heartbeats, first_heartbeat_timeout for run_action, rpc_response_timeout for a call); inside spec;
- rpc duplicate: outside designed (ack before dispatch never delivers twice; Mistral has no duplicate check),
  inside spec (at-least-once brings redeliveries, and a non-idempotent action must never run twice);
- rpc crash-after: a kill of the node: an executor lost mid-action is outside designed, an engine or API node
  lost while another runs is inside; spec needs one node per role left.

A clock skew is inside `designed` while Mistral 23 compares no timestamp of the skewed node within that
tolerance: engines stamp and judge action heartbeats with their own wall clocks (skew < heartbeat window minus
one check_interval), API nodes compute cron triggers' next fire times (skew < 60 s), executors and notifiers
write no timestamp another node compares. Every skew is inside `spec`: the nodes keep running.
An rpc window whose heal listed no matched message changed nothing: inside both.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from history.events import Event
from history.faults import FaultWindow, fault_windows, role_of, touched_nodes
from history.run_dir import TOPOLOGY_FILE

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
    ("action_heartbeat", "first_heartbeat_timeout"): 3600.0,
    ("DEFAULT", "rpc_response_timeout"): 60.0,
}
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


# ---------------------------------------------------------------- judging one window
def judge(window: FaultWindow, counts: dict[str, int], overrides: dict[str, dict[str, Any]],
          window_s: float) -> None:
    """Fill window.inside / window.reasons for both levels."""
    roles = {role_of(n) for n in window.nodes} or {str(window.done.get("role") or window.target or "")} - {""}
    window.fault_s = round((window.end - window.start) if window.end is not None else 0.0, 2)  # see history.faults
    window.outage_s = outage_s(window.kind, roles, window.fault_s, overrides)
    if window.fault == "rpc":
        placed = _rpc(window, counts, overrides, window_s)
    elif window.fault == "clock":
        placed = _clock(window, overrides, window_s)
    else:
        placed = {"designed": _designed(window, roles, counts, window_s), "spec": _spec(window, counts)}
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


def _designed(window: FaultWindow, roles: set[str], counts: dict[str, int], window_s: float) -> tuple[bool, str]:
    fault, outage = window.kind, window.outage_s
    short = f"outage {outage:g} s (fault {window.fault_s:g} s + reconnect) vs heartbeat window {window_s:g} s"
    if fault == "message-loss":
        return False, ("RPC messages for a role that was wholly away were lost in the broker: Mistral 23 never "
                       "resends an RPC message (at-most-once)")
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


# ---------------------------------------------------------------- faults inside the Mistral processes
Placed = dict  # level -> (inside, reason)
# Calls (the caller waits for a reply, up to rpc_response_timeout) among Mistral 23's RPC methods
# (mistral/rpc/clients.py); every other method is a cast.
CALLS = ("start_workflow", "start_action", "pause_workflow", "resume_workflow", "rerun_workflow", "stop_workflow",
         "rollback_workflow")
RESULTS = ("on_action_complete", "on_action_update")
HEARTBEATS = "report_running_actions"


def _verb(side: str) -> str:
    return "handled" if side == "receive" else "sent"


def rpc_placement(method: str, side: str, action: str, role: str, *, overrides: dict[str, dict[str, Any]],
                  window_s: float, counts: dict[str, int], left: dict[str, int] | None = None,
                  delay_s: float = 0.0, lost_s: float | None = None, call: bool | None = None,
                  outage: float = 0.0) -> Placed:
    """Where one matched RPC message (or, with no match list, the rule on one node) stands against both
    levels. `left`: nodes per role still running (crash-after); `lost_s`: for dropped heartbeats, how long an
    executor's heartbeats were lost at most; `outage`: the fault's outage, for an engine crash."""
    left = left if left is not None else dict(counts)
    call = method in CALLS if call is None else call
    what = f"{action} {side} {method}"
    if action == "crash-after":
        if role == "executor":
            designed = (False, f"{what}: an executor lost mid-action (SIGKILLed right after it {_verb(side)} the "
                               "message); Mistral may fail the actions it was running")
        elif role == "engine" and left.get("engine", 0) < 1 and outage >= window_s:
            designed = (False, f"{what}: the only engine was killed and away {outage:g} s, beyond the heartbeat "
                               f"window {window_s:g} s")
        elif left.get(role, 0) >= 1:
            designed = (True, f"{what}: {role or 'a Mistral'} node killed while another {role or 'node'} ran: "
                              "everything must complete")
        else:
            designed = (True, f"{what}: the only {role or 'Mistral'} node killed and back within {outage:g} s "
                              f"(heartbeat window {window_s:g} s): everything must complete")
        gone = [r for r in MISTRAL_ROLES if counts.get(r, 0) and left.get(r, 0) < 1]
        spec = (False, f"{what}: no {', '.join(gone)} kept running: the spec asks for one node per role") if gone \
            else (True, f"{what}: another {role or 'node'} kept running: workflows must finish")
        return {"designed": designed, "spec": spec}
    if action == "drop":
        if method == HEARTBEATS:
            span = window_s if lost_s is None else lost_s
            designed = (span < window_s,
                        f"{what}: heartbeats lost for at most {span:g} s vs heartbeat window {window_s:g} s "
                        "(check_interval x max_missed_heartbeats): " +
                        ("Mistral tolerates the missed heartbeats" if span < window_s else
                         "the executor looks lost, Mistral fails its running actions by design"))
        elif side == "receive":
            designed = (False, f"{what}: lost after delivery: oslo.messaging acknowledges before dispatch "
                               "(at-most-once) and Mistral 23 never resends it (at best its heartbeat check fails "
                               "an action left RUNNING)")
        else:
            designed = (False, f"{what}: lost before it reached the broker: oslo.messaging does not resend a "
                               f"lost {'call (the caller times out)' if call else 'cast'}, Mistral 23 neither")
        if side == "receive":
            spec = (True, f"{what}: lost after delivery: the spec's goal is acknowledgement after processing "
                          "(at-least-once), which would redeliver it: workflows must finish")
        else:
            spec = (False, f"{what}: lost before the broker: the spec deems automatic recovery from a completely "
                           "lost message impossible and asks only that operators can identify it")
        return {"designed": designed, "spec": spec}
    if action == "delay":
        if method == "run_action":
            limit, by = setting(overrides, "action_heartbeat", "first_heartbeat_timeout"), \
                "first_heartbeat_timeout (an action not yet started is failed after it)"
        elif method in RESULTS or method == HEARTBEATS or method == "any":
            limit, by = window_s, "the heartbeat window (a finished action is no longer heartbeated)"
        elif call:
            limit, by = setting(overrides, "DEFAULT", "rpc_response_timeout"), \
                "rpc_response_timeout (the caller gives up)"
        else:
            limit, by = float("inf"), "nothing: Mistral 23 times out no delayed cast of this method"
        inside = delay_s < limit
        designed = (inside, f"{what}: {delay_s:g} s late, {'within' if inside else 'beyond'} {by}"
                            + ("" if limit == float("inf") else f" = {limit:g} s"))
        return {"designed": designed, "spec": (True, f"{what}: a late message still arrives: workflows must "
                                                     "finish")}
    # duplicate
    return {"designed": (False, f"{what}: delivered twice: oslo.messaging acknowledges before dispatch, so "
                                "Mistral 23 never receives one message twice and has no duplicate check"),
            "spec": (True, f"{what}: the spec's at-least-once goal brings redeliveries; Mistral must tolerate "
                           "them and never run a non-idempotent action twice")}


def heartbeats_lost_s(matches: list[dict[str, Any]], interval: float) -> float:
    """The longest stretch one node's heartbeats were dropped: first to last dropped one, plus the interval."""
    by_node: dict[str, list[float]] = {}
    for match in matches:
        if isinstance(match.get("time"), (int, float)):
            by_node.setdefault(str(match.get("node")), []).append(float(match["time"]))
    return max((max(t) - min(t) + interval for t in by_node.values()), default=interval)


def _rpc(window: FaultWindow, counts: dict[str, int], overrides: dict[str, dict[str, Any]],
         window_s: float) -> Placed:
    rule = window.done.get("rule") if isinstance(window.done.get("rule"), dict) else {}
    rule = {**window.options, **rule}
    method, side, action = str(rule.get("method", "run_action")), str(rule.get("side", "receive")), \
        str(rule.get("action", "drop"))
    if window.matches is not None and not window.matches:
        why = f"{action} {side} {method}: no message matched the rule: the fault changed nothing"
        return {"designed": (True, why), "spec": (True, why)}
    interval = setting(overrides, "action_heartbeat", "check_interval")
    if window.matches is not None:
        messages = window.matches
        lost_s = heartbeats_lost_s(messages, interval)
    else:  # the heal's answer is missing: judge the rule on every targeted node
        messages = [{"method": method, "side": side, "action": action, "node": n} for n in window.nodes]
        count = int(rule.get("count") or 0)
        lost_s = min(window.fault_s, count * interval) if count else window.fault_s
    crashed = {str(m.get("node")) for m in messages if m.get("action") == "crash-after"}
    hit = {role: sum(1 for n in crashed if role_of(n) == role) for role in MISTRAL_ROLES}
    left = {role: counts.get(role, 0) - hit[role] for role in MISTRAL_ROLES}
    placed = [rpc_placement(str(m.get("method", method)), str(m.get("side", side)), str(m.get("action", action)),
                            role_of(str(m.get("node") or "")), overrides=overrides, window_s=window_s,
                            counts=counts, left=left, delay_s=float(rule.get("delay_ms") or 0) / 1000.0,
                            lost_s=lost_s, call=m.get("call"), outage=window.outage_s) for m in messages]
    return {level: _combined([p[level] for p in placed], len(messages)) for level in LEVELS}


def _combined(verdicts: list[tuple[bool, str]], n: int) -> tuple[bool, str]:
    """All messages inside: inside; else the first reason that puts one outside, with how many did."""
    outside = [why for inside, why in verdicts if not inside]
    if not outside:
        return True, verdicts[0][1] + (f" ({n} messages)" if n > 1 else "")
    return False, outside[0] + (f" ({len(outside)} of {n} messages outside)" if n > 1 else "")


def clock_offset_s(window: FaultWindow) -> float:
    raw = window.done.get("offset", window.options.get("offset_s", 0))
    try:
        return float(str(raw).strip() or 0)
    except ValueError:
        return 0.0


def _clock(window: FaultWindow, overrides: dict[str, dict[str, Any]], window_s: float) -> Placed:
    """Mistral 23 assumes synchronised wall clocks (as OpenStack does with NTP): it compares timestamps one node
    wrote with another node's clock. Only the comparisons a skewed node takes part in decide."""
    offset = abs(clock_offset_s(window))
    roles = {role_of(n) for n in window.nodes} or {str(window.target or "").split(":")[-1]}
    interval = setting(overrides, "action_heartbeat", "check_interval")
    tolerance = max(0.0, window_s - interval)
    skew = f"clock off by {clock_offset_s(window):+g} s on {', '.join(window.nodes) or window.target}"
    spec = (True, f"{skew}: the nodes kept running; the spec lets only the loss of every node of a role stop "
                  "started workflows")
    if "engine" in roles and offset >= tolerance:
        return {"designed": (False, f"{skew}: engines stamp action heartbeats with their own wall clock and judge "
                                    "them with the checking engine's; beyond the heartbeat window "
                                    f"{window_s:g} s minus one check_interval ({tolerance:g} s) live actions "
                                    "look expired"), "spec": spec}
    if "api" in roles and offset >= 60.0:
        return {"designed": (False, f"{skew}: API nodes compute cron triggers' next fire times with their clock "
                                    "and engines fire them by theirs: a skew of a minute or more moves fires"),
                "spec": spec}
    return {"designed": (True, f"{skew}: within what Mistral 23 tolerates (heartbeats {tolerance:g} s, cron "
                               "60 s; executors and notifiers write no timestamp another node compares)"),
            "spec": spec}


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
