"""The lab's one Mistral HTTP client: a node-pinned client (python-mistralclient where it suffices, raw HTTP
where it falls short) and small helpers for smoke runs, tests and the benchmark.

mistralclient passes no timeout to requests, so a paused API node would hang a client forever; the session
below puts a timeout on every request. Raw HTTP is used for `POST /v2/executions` with a client-supplied id
(idempotent create: an indeterminate create can later be looked up by that id).
"""
from __future__ import annotations

import json
import time
from typing import Any

import requests
from mistralclient.api.base import APIException
from mistralclient.api.v2 import client as v2_client

from history.mistral import TERMINAL_STATES

INDETERMINATE = (requests.Timeout, requests.ConnectionError)


class TimeoutSession(requests.Session):
    """A requests session whose every request has a timeout unless the caller gives one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


class HttpError(Exception):
    """A non-2xx answer from Mistral: the server decided, so the request's outcome is known."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class NodeClient:
    """All calls go to one API node; `node` is what the history records as the serving node."""

    def __init__(self, node: str, url: str, timeout: float = 10.0) -> None:
        self.node = node
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = TimeoutSession(timeout)
        self._mistral: v2_client.Client | None = None

    @property
    def mistral(self) -> v2_client.Client:
        if self._mistral is None:
            self._mistral = v2_client.Client(mistral_url=f"{self.url}/v2", session=self.session)
        return self._mistral

    # ------------------------------------------------------------ raw HTTP
    def call(self, method: str, path: str, body: Any = None, params: dict | None = None,
             ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        """One HTTP call; returns the decoded JSON body, raises HttpError for a status outside `ok`."""
        response = self.session.request(method, f"{self.url}{path}", json=body, params=params)
        if response.status_code not in ok:
            raise HttpError(response.status_code, error_message(response))
        if not response.content:
            return None
        return response.json()

    def create_execution(self, execution_id: str, workflow: str, workflow_input: dict | None = None,
                         params: dict | None = None, namespace: str = "") -> dict:
        """Idempotent create: Mistral returns the existing execution when the id is already known. `params` are
        Mistral's start params (task_name of a reverse workflow, env...); `namespace` is the workflow's."""
        body: dict[str, Any] = {"id": execution_id, "workflow_name": workflow}
        if workflow_input:
            body["input"] = json.dumps(workflow_input)
        if params:
            body["params"] = json.dumps(params)
        if namespace:
            body["workflow_namespace"] = namespace
        return self.call("POST", "/v2/executions", body)

    def execution(self, execution_id: str) -> dict:
        return self.call("GET", f"/v2/executions/{execution_id}")

    def tasks(self, execution_id: str) -> list[dict]:
        return self.call("GET", "/v2/tasks", params={"workflow_execution_id": execution_id, "limit": 1000})["tasks"]

    def cancel(self, execution_id: str) -> None:
        self.call("PUT", f"/v2/executions/{execution_id}", {"state": "CANCELLED"})

    def close(self) -> None:
        self.session.close()


def error_message(response: requests.Response) -> str:
    """Mistral's own words for a refusal: the faultstring of its JSON error, else the text, on one line."""
    try:
        data = response.json()
        text = data.get("faultstring") or data.get("error") or response.text
    except ValueError:
        text = response.text
    return " ".join(str(text).split())[:300]


def api_error(exc: APIException) -> HttpError:
    """mistralclient's exception as an HttpError (its error_code is the HTTP status)."""
    return HttpError(int(exc.error_code or 0), " ".join(str(exc.error_message or exc).split())[:300])


def client(url: str, timeout: float = 30.0) -> v2_client.Client:
    """A mistralclient pinned to one API node (no auth: the lab runs Mistral with auth_enable = false).

    mistralclient never passes a timeout to requests itself, so the session carries one: a paused API node
    must not hang the lab."""
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


__all__ = ["APIException", "HttpError", "INDETERMINATE", "NodeClient", "TERMINAL_STATES", "TimeoutSession", "api_error",
           "client", "ensure_workflow", "error_message", "wait_terminal"]
