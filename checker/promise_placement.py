"""Faults inside the Mistral processes, placed against both promise levels per message (rpc) or per node (clock):
the rules are in docs/verdicts.md#faults-inside-the-mistral-processes.

    place_rpc(window, counts, overrides, window_s) / place_clock(window, overrides, window_s) -> level ->
    (inside, reason); rpc_placement(method, side, action, role, ...) places one matched message.
"""
from __future__ import annotations

from typing import Any

from checker.promise_base import LEVELS, MISTRAL_ROLES, setting
from history.faults import FaultWindow, role_of


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
        return _crashed(what, side, role, counts, left, window_s, outage)
    if action == "drop":
        return _dropped(what, method, side, call, window_s, lost_s)
    if action == "delay":
        return _delayed(what, method, call, overrides, window_s, delay_s)
    return _duplicated(what)


def _crashed(what: str, side: str, role: str, counts: dict[str, int], left: dict[str, int], window_s: float,
             outage: float) -> Placed:
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


def _dropped(what: str, method: str, side: str, call: bool, window_s: float, lost_s: float | None) -> Placed:
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


def _delayed(what: str, method: str, call: bool, overrides: dict[str, dict[str, Any]], window_s: float,
             delay_s: float) -> Placed:
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


def _duplicated(what: str) -> Placed:
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


def place_rpc(window: FaultWindow, counts: dict[str, int], overrides: dict[str, dict[str, Any]],
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


def place_clock(window: FaultWindow, overrides: dict[str, dict[str, Any]], window_s: float) -> Placed:
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


__all__ = ["CALLS", "HEARTBEATS", "Placed", "RESULTS", "clock_offset_s", "heartbeats_lost_s", "place_clock",
           "place_rpc", "rpc_placement"]
