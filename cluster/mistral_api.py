"""Thin helpers over python-mistralclient for the lab's own use (smoke runs, tests, snapshots)."""
from __future__ import annotations

import time

from mistralclient.api.v2 import client as v2_client

TERMINAL_STATES = frozenset({"SUCCESS", "ERROR", "CANCELLED"})


def client(url: str, timeout: float = 30.0) -> v2_client.Client:
    """A mistralclient pinned to one API node (no auth: the lab runs Mistral with auth_enable = false).

    mistralclient never passes a timeout to requests itself, so the session carries one: a paused API node
    must not hang the lab."""
    from workloads.client import TimeoutSession

    return v2_client.Client(mistral_url=f"{url.rstrip('/')}/v2", session=TimeoutSession(timeout))


def ensure_workflow(api: v2_client.Client, definition: str) -> None:
    """Create the workflows in `definition`, or update them when they exist already."""
    try:
        api.workflows.create(definition)
    except Exception as exc:  # mistralclient raises APIException with the server's message
        if "Duplicate entry" in str(exc) or "already exists" in str(exc) or "409" in str(exc):
            api.workflows.update(definition)
        else:
            raise


def wait_terminal(api: v2_client.Client, execution_id: str, timeout: float = 120.0,
                  poll: float = 0.5) -> str:
    """Poll an execution until it is SUCCESS, ERROR or CANCELLED; returns the state (or the last seen one)."""
    deadline = time.monotonic() + timeout
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        state = api.executions.get(execution_id).state
        if state in TERMINAL_STATES:
            return state
        time.sleep(poll)
    return state
