"""The settle wait: poll Mistral until every execution a run started is terminal and no action execution is
RUNNING (nothing is left to wait for), or the settle window passes."""
from __future__ import annotations

import threading
import time
from typing import Callable

import requests

from history.mistral import TERMINAL_STATES as TERMINAL
from cluster.errors import LabError
from cluster.mistral_api import NodeClient
from workloads.collect import fetch_all

StatesFn = Callable[[], "dict[str, str] | None"]
CountFn = Callable[[], "int | None"]


def wait_settled(urls: dict[str, str], execution_ids: list[str], quiet_since: Callable[[], float],
                 settle_s: float, stop: threading.Event, poll_s: float = 2.0, timeout: float = 10.0,
                 read_states: StatesFn | None = None, unlisted_grace_s: float | None = None,
                 read_running_actions: CountFn | None = None) -> tuple[float | None, list[str]]:
    """Poll until every started execution is terminal, or `settle_s` have passed since `quiet_since()`.
    Returns (when settled or None, unsettled ids). An execution Mistral does not list (yet) is not terminal:
    an indeterminate start may still be created later, and the completion checker judges it if it is; once
    `unlisted_grace_s` have passed since quiet_since() with every listed one terminal, the rest never will be
    (history.mistral.unlisted_grace_s). An action execution still RUNNING (an action abandoned by a lost
    executor, say, until the heartbeat checker fails it) is waited for too. `read_states` (id -> state) and
    `read_running_actions` (a count) return None when no node answers; they default to listing through `urls`."""
    read = read_states or (lambda: execution_states(urls, timeout))
    running = read_running_actions or (lambda: running_actions(urls, timeout))
    pending = set(execution_ids)
    grace = float("inf") if unlisted_grace_s is None or unlisted_grace_s >= settle_s else unlisted_grace_s
    while True:
        states = read()
        if states is not None:
            pending = {i for i in pending if states.get(i) not in TERMINAL}
            listed = {i for i in pending if i in states}
            executions_done = not pending or (not listed and time.time() >= quiet_since() + grace)
            if executions_done and running() == 0:
                return time.time(), []
        left = quiet_since() + settle_s - time.time()
        if left <= 0 or stop.wait(min(poll_s, left)):  # the last poll comes when the window ends
            return None, sorted(pending)


def execution_states(urls: dict[str, str], timeout: float) -> dict[str, str] | None:
    """id -> state through the first API node that answers; None if none does (a fault may still be on)."""
    for node, url in sorted(urls.items()):
        client = NodeClient(node, url, timeout)
        try:
            rows = fetch_all(client, "/v2/executions", "executions", {"fields": "id,state"})
            return {row["id"]: row["state"] for row in rows}
        except (requests.RequestException, ValueError, LabError):
            continue
        finally:
            client.close()
    return None


def running_actions(urls: dict[str, str], timeout: float) -> int | None:
    """How many action executions are RUNNING, through the first API node that answers; None if none does."""
    for node, url in sorted(urls.items()):
        client = NodeClient(node, url, timeout)
        try:
            rows = fetch_all(client, "/v2/action_executions", "action_executions",
                             {"fields": "id,state", "state": "RUNNING"})
            return sum(1 for row in rows if row.get("state") == "RUNNING")
        except (requests.RequestException, ValueError, LabError):
            continue
        finally:
            client.close()
    return None
