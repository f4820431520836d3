"""The promise's levels, Mistral's roles, and the Mistral 23 / oslo settings that decide how long an outage lasts
for Mistral (checker.promise judges each fault window with them).
"""
from __future__ import annotations

from typing import Any

LEVELS = ("designed", "spec")
MISTRAL_ROLES = ("api", "engine", "executor")
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
def rpc_driver(overrides: dict[str, dict[str, Any]]) -> str:
    """"kombu" when the run set rpc_implementation = kombu (Mistral before 21.0.0), else "oslo"."""
    return "kombu" if str((overrides.get("DEFAULT") or {}).get("rpc_implementation", "")).strip() == "kombu" \
        else "oslo"


def delivery(overrides: dict[str, dict[str, Any]]) -> str:
    """How the run's RPC driver acknowledges, for a reason's text: the promise levels rest on it."""
    if rpc_driver(overrides) == "kombu":
        return ("the kombu driver acknowledges after processing (at-least-once): a message its process did not "
                "finish is redelivered, flagged, and a redelivered run_action is failed, not run again")
    return "oslo.messaging acknowledges before dispatch (at-most-once): Mistral never resends an RPC message"


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


__all__ = ["DEFAULTS", "LEVELS", "MISTRAL_ROLES", "heartbeat_window_s", "outage_s", "reconnect_allowance_s", "setting"]
