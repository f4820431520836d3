"""Any Mistral's public REST API, for operators: authentication the way OpenStack clients do it, the reads
`inspect` needs as a snapshot, and the few writes `recover` makes.

Authentication: `--no-auth` (a Mistral with auth disabled, as the lab's) uses a plain requests session; otherwise
openstack.config (the library behind `openstack` and the clouds.yaml format; installed with
python-mistralclient through osc-lib) resolves `--os-cloud`, the OS_* environment and the `--os-*` options into
a keystoneauth1 session. python-mistralclient does every request; writes go through its HTTP client so that the
body sent is exactly the body printed (its managers cannot send an execution's state_info).
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import requests
from keystoneauth1 import exceptions as ks_exceptions
from mistralclient.api.base import APIException
from mistralclient.api.v2 import client as v2_client

from checker.anomalies import HEARTBEAT, REDELIVERED
from cluster.errors import LabError
from cluster.mistral_api import TimeoutSession, api_error

PAGE = 500  # Mistral clamps a page to [api] max_limit (1000 by default); paging goes on until a page is empty
MAX_PAGES = 400
SORT = {"sort_keys": "created_at,id", "sort_dirs": "asc,asc"}  # unique: marker paging never skips a tie
WORKFLOW_SERVICE_TYPES = ("workflowv2", "workflow")  # Mistral's catalog entry, old and new name
UNREACHABLE = (requests.RequestException, ks_exceptions.ConnectionError, ks_exceptions.ClientException)


@dataclass
class Auth:
    """How to authenticate: no_auth, or keystoneauth1 settings (None: from clouds.yaml / OS_* env)."""

    no_auth: bool = False
    cloud: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # openstack.config keys: auth_type, auth_url, ...


def normalise_url(url: str | None) -> str | None:
    """`http://host:8989`, `.../` or `.../v2` -> `http://host:8989`; anything else is bad input."""
    if url is None:
        return None
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise LabError(f"--url must be http(s)://HOST[:PORT][/v2], got {url!r}")
    return text[:-3] if text.endswith("/v2") else text


class Mistral:
    """One Mistral API behind python-mistralclient; every failure to reach it becomes a one-line LabError."""

    def __init__(self, client: v2_client.Client, url: str) -> None:
        self.client = client
        self.url = url
        self.http = client.executions.http_client  # mistralclient's transport: base URL, session, auth headers
        self.unreachable = "Mistral API" if isinstance(self.http.session, requests.Session) else \
            "Mistral API or keystone"

    # ------------------------------------------------------------ reads
    def server_now(self) -> tuple[float, str]:
        """The API node's clock (its HTTP Date header), which is what Mistral's timestamps are written by;
        the local clock only when the header is missing. Also proves the API answers."""
        response = self._guard(lambda: self.http.get("/executions?limit=1"))
        if getattr(response, "status_code", 200) != 200:
            raise LabError(f"{self.url}: GET /v2/executions answered HTTP {response.status_code}; is this a "
                           "Mistral API (and are the credentials right)?")
        date = response.headers.get("Date")
        try:
            return parsedate_to_datetime(date).timestamp(), "server"
        except (TypeError, ValueError):
            return time.time(), "local"

    def snapshot(self, include_paused: bool = False) -> dict[str, Any]:
        """Non-terminal executions with their tasks, every RUNNING action execution, and the tasks failed for
        a lost executor with their executions and action executions: the facts checker.stuck judges."""
        now, source = self.server_now()
        states = ("RUNNING", "IDLE", "PAUSED") if include_paused else ("RUNNING", "IDLE")
        executions = {e["id"]: e for state in states for e in self._all(self.client.executions.list, state=state)}
        tasks = {t["id"]: t for ex_id in executions for t in
                 self._all(self.client.tasks.list, workflow_execution_id=ex_id)}
        actions = {a["id"]: a for a in self._all(self.client.action_executions.list, state="RUNNING")
                   if a.get("task_execution_id") in tasks}
        for text in (HEARTBEAT, REDELIVERED):
            for task in self._all(self.client.tasks.list, state="ERROR", state_info=f"has:{text}"):
                tasks[task["id"]] = task
                ex_id = task.get("workflow_execution_id")
                if ex_id and ex_id not in executions:
                    executions[ex_id] = self.get("executions", ex_id)
                for action in self._all(self.client.action_executions.list, task_execution_id=task["id"]):
                    actions[action["id"]] = action
        return {"taken_at": now, "now_source": source, "url": self.url, "heartbeats_known": False,
                "executions": list(executions.values()), "tasks": list(tasks.values()),
                "action_executions": list(actions.values())}

    def get(self, collection: str, item_id: str) -> dict[str, Any]:
        """GET /v2/<collection>/<id> as Mistral's JSON (collection: executions, tasks, action_executions)."""
        manager = getattr(self.client, collection)
        return self._guard(lambda: manager.get(item_id)).to_dict()

    def _all(self, list_page: Callable[..., list], **filters: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        marker = ""
        for _ in range(MAX_PAGES):
            page = self._guard(lambda: list_page(marker=marker, limit=PAGE, **SORT, **filters))
            if not page:
                return rows
            rows += [resource.to_dict() for resource in page]
            marker = rows[-1]["id"]
        raise LabError(f"{self.url}: more than {MAX_PAGES * PAGE} rows for {filters}; refusing to page further")

    # ------------------------------------------------------------ writes
    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /v2/... with exactly `body`; returns Mistral's answer, raises APIException on a refusal."""
        relative = path[len("/v2"):] if path.startswith("/v2/") else path
        try:
            response = self.http.put(relative, json.dumps(body))
        except ks_exceptions.HttpError as exc:  # a keystoneauth session raises on 4xx/5xx itself
            raise APIException(exc.http_status, _message(exc.response)) from None
        except UNREACHABLE as exc:
            raise LabError(f"{self.url}: unreachable during PUT {path}: {_one_line(exc)}") from None
        if response.status_code != 200:
            raise APIException(response.status_code, _message(response))
        try:
            return response.json() if response.content else {}
        except ValueError:  # the change was made (HTTP 200); only its echo is unreadable
            return {}

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except APIException as exc:
            raise LabError(f"{self.url}: Mistral refused a read: {api_error(exc)}") from None
        except ks_exceptions.HttpError as exc:
            raise LabError(f"{self.url}: HTTP {exc.http_status}: {_one_line(exc)}") from None
        except UNREACHABLE as exc:
            if isinstance(exc, requests.JSONDecodeError):  # a RequestException too, but the server did answer
                raise LabError(f"{self.url}: the answer is not Mistral's JSON ({_one_line(exc)[:120]}); is this "
                               "a Mistral API?") from None
            raise LabError(f"{self.url}: {self.unreachable} unreachable: {_one_line(exc)}") from None
        except (ValueError, KeyError, TypeError) as exc:  # mistralclient parsing an answer that is not Mistral's
            raise LabError(f"{self.url}: the answer is not Mistral's JSON ({type(exc).__name__}: "
                           f"{_one_line(exc)[:120]}); is this a Mistral API?") from None


def connect(url: str | None, auth: Auth, timeout: float = 30.0) -> Mistral:
    """A Mistral client for `url` (or, with keystone, the catalog's workflow endpoint)."""
    base = normalise_url(url)
    if auth.no_auth:
        if base is None:
            raise LabError("--no-auth needs --url (there is no catalog to find Mistral in)")
        return Mistral(v2_client.Client(mistral_url=f"{base}/v2", session=TimeoutSession(timeout)), base)
    session, region, interface = _keystone_session(auth, timeout)
    if base is None:
        base = normalise_url(_catalog_endpoint(session, region, interface))
    return Mistral(v2_client.Client(mistral_url=f"{base}/v2", session=session), str(base))


def _keystone_session(auth: Auth, timeout: float) -> tuple[Any, str | None, str]:
    from openstack import config as os_config  # heavy: only when keystone is used
    from openstack import exceptions as os_exceptions

    # keystoneauth warns on stderr about version discovery it then works around: errors come as one line below
    logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    options = {k: v for k, v in auth.options.items() if v not in (None, "")}
    try:
        region = os_config.OpenStackConfig().get_one(cloud=auth.cloud, argparse=None, api_timeout=timeout,
                                                     **options)
        session = region.get_session()
    except (os_exceptions.ConfigException, ks_exceptions.ClientException) as exc:
        raise LabError(f"keystone authentication is not configured ({_one_line(exc)}); pass --os-cloud, the "
                       "OS_* environment or --os-* options, or --no-auth for a Mistral with auth disabled") from None
    return session, region.get_region_name(), region.get_interface() or "public"


def _catalog_endpoint(session: Any, region: str | None, interface: str) -> str:
    for service_type in WORKFLOW_SERVICE_TYPES:
        try:
            endpoint = session.get_endpoint(service_type=service_type, interface=interface, region_name=region)
        except ks_exceptions.EndpointNotFound:
            continue
        except ks_exceptions.ClientException as exc:
            raise LabError(f"keystone: {_one_line(exc)}") from None
        if endpoint:
            return str(endpoint)
    raise LabError("no --url, and the keystone catalog has no workflow (Mistral) endpoint")


def _message(response: Any) -> str:
    try:
        data = response.json()
        text = data.get("faultstring") or data.get("error") or response.text
    except (ValueError, AttributeError):
        text = getattr(response, "text", "")
    return " ".join(str(text).split())[:300]


def _one_line(exc: BaseException) -> str:
    """The error on one line; urllib3's connection failures cut down to what failed and the OS's reason."""
    text = " ".join(str(exc).split())
    reason = re.search(r"\[Errno -?\d+\][^\"')]*", text)
    if reason:
        head = re.split(r":? ?\(?HTTPS?ConnectionPool", text)[0].strip() or "cannot connect"
        text = f"{head} ({reason.group(0).strip()})"
    return text[:300] or type(exc).__name__


__all__ = ["Auth", "Mistral", "connect", "normalise_url"]
