"""Mistral's vocabulary as a run records it: execution states, its timestamps, and how long its own failure
detection may take under a run's mistral.conf overrides. Pure data: every layer may import it."""
from __future__ import annotations

from datetime import datetime, timezone

SUCCESS, ERROR, CANCELLED = "SUCCESS", "ERROR", "CANCELLED"
TERMINAL_STATES = frozenset({SUCCESS, ERROR, CANCELLED})


def mistral_time(text: str | None) -> float | None:
    """Mistral's "YYYY-MM-DD HH:MM:SS" (UTC) as epoch seconds; None if absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


# Mistral's defaults for the settings that decide how long a lost action can keep an execution running.
MISTRAL_DEFAULTS = {
    ("action_heartbeat", "check_interval"): 20.0,
    ("action_heartbeat", "max_missed_heartbeats"): 15.0,
    ("action_heartbeat", "first_heartbeat_timeout"): 3600.0,
    ("engine", "execution_integrity_check_delay"): 20.0,
    ("DEFAULT", "rpc_response_timeout"): 60.0,
}
SETTLE_MARGIN_S = 10.0


def _setting(overrides: dict[str, dict[str, str]], section: str, option: str) -> float:
    try:
        return float(overrides.get(section, {}).get(option, MISTRAL_DEFAULTS[(section, option)]))
    except ValueError:
        return MISTRAL_DEFAULTS[(section, option)]


def unlisted_grace_s(overrides: dict[str, dict[str, str]] | None = None) -> float:
    """How long after the cluster is quiet an indeterminate start Mistral does not list can still appear: its
    API node's start_workflow call to an engine either went out (the engine creates it from the queue at once)
    or gave up within rpc_response_timeout; plus the margin."""
    return _setting(overrides or {}, "DEFAULT", "rpc_response_timeout") + SETTLE_MARGIN_S


def default_settle_s(overrides: dict[str, dict[str, str]] | None = None, action_seconds: float = 0.0) -> float:
    """How long after the last fault Mistral may need to finish everything it can.

    An action lost before its first heartbeat is failed after first_heartbeat_timeout plus the missed-
    heartbeat window; the checker itself waits that window after an engine start and runs every
    check_interval; a task left RUNNING is repaired by the integrity check after its delay (twice, to allow
    one check to race the failure). Plus the longest action and a margin.
    """
    overrides = overrides or {}
    interval = _setting(overrides, "action_heartbeat", "check_interval")
    missed = _setting(overrides, "action_heartbeat", "max_missed_heartbeats")
    first = _setting(overrides, "action_heartbeat", "first_heartbeat_timeout")
    integrity = max(0.0, _setting(overrides, "engine", "execution_integrity_check_delay"))
    return first + 2 * interval * missed + interval + 2 * integrity + action_seconds + SETTLE_MARGIN_S
