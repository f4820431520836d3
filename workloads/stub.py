"""A tiny in-process stand-in for Mistral's API on 127.0.0.1, for unit tests and the client benchmark.

It serves just what the workloads use: environments (POST create-if-absent, PUT, GET), workflow and workbook
definitions (POST, kept), executions (POST with a client-supplied id, GET one or the list, PUT state; a start may
be refused, or end at once) and the list of action executions, with Mistral's status codes. `hang_paths`
makes requests whose path starts with a prefix (and whose method is in `hang_methods`) sleep `hang_s` first,
to exercise client timeouts; the request still takes effect afterwards, as a real one may.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from history.mistral import TERMINAL_STATES


class StubMistral:
    def __init__(self) -> None:
        self.environments: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, dict[str, Any]] = {}
        self.action_executions: dict[str, dict[str, Any]] = {}  # id -> {"id", "state"}; set by tests
        self.lock = threading.Lock()
        self.hang_paths: tuple[str, ...] = ()
        self.hang_s = 0.0
        self.hang_methods: tuple[str, ...] = ("GET", "POST", "PUT")
        # How a new execution starts (RUNNING; a terminal state for a workflow that ends at once), or the
        # (status, faultstring) refusing every start; `started` keeps each start's body, `definitions` each
        # workflow or workbook text with its path.
        self.start_state = "RUNNING"
        self.state_info: str | None = None
        self.refuse_starts: tuple[int, str] | None = None
        self.started: list[dict[str, Any]] = []
        self.definitions: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "StubMistral":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ behaviour
    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.split("?")[0].strip("/").split("/")
        with self.lock:
            if parts[:2] == ["v2", "environments"]:
                return self._environment(method, parts[2] if len(parts) > 2 else None, body)
            if parts[:2] == ["v2", "executions"]:
                return self._execution(method, parts[2] if len(parts) > 2 else None, body)
            if parts[:2] in (["v2", "workflows"], ["v2", "workbooks"]):
                self.definitions.append((path, body if isinstance(body, str) else json.dumps(body)))
                return 201, {parts[1]: []}
            if parts[:2] == ["v2", "action_executions"] and method == "GET":
                return 200, {"action_executions": [dict(a) for a in self.action_executions.values()]}
        return 404, {"faultstring": f"no route {path}"}

    def _environment(self, method: str, name: str | None, body: Any) -> tuple[int, Any]:
        if method == "GET" and name:
            env = self.environments.get(name)
            return (200, env) if env else (404, {"faultstring": f"Environment not found [name={name}]"})
        name = body.get("name")
        variables = body.get("variables")
        env = {"name": name, "variables": json.loads(variables) if isinstance(variables, str) else variables}
        if method == "POST":
            if name in self.environments:
                return 409, {"faultstring": f"Duplicate entry for Environment: {name}"}
            self.environments[name] = env
            return 201, env
        if name not in self.environments:
            return 404, {"faultstring": f"Environment not found [name={name}]"}
        self.environments[name] = env
        return 200, env

    def _execution(self, method: str, ex_id: str | None, body: Any) -> tuple[int, Any]:
        if method == "POST":
            self.started.append(dict(body))
            if self.refuse_starts is not None:
                return self.refuse_starts[0], {"faultstring": self.refuse_starts[1]}
            ex = self.executions.setdefault(body["id"], {"id": body["id"], "state": self.start_state,
                                                         "state_info": self.state_info,
                                                         "workflow_name": body.get("workflow_name")})
            return 201, ex
        if method == "GET" and not ex_id:  # one page holds them all: no `next` link
            return 200, {"executions": [dict(ex) for ex in self.executions.values()]}
        ex = self.executions.get(ex_id or "")
        if ex is None:
            return 404, {"faultstring": f"Execution not found [id={ex_id}]"}
        if method == "PUT":
            wanted = body.get("state")
            if wanted == "PAUSED" and ex["state"] not in ("RUNNING", "PAUSED"):
                return 400, {"faultstring": f"Can't change workflow execution state from {ex['state']} to PAUSED"}
            if wanted == "RUNNING" and ex["state"] == "PAUSED" or wanted == "PAUSED" or \
                    wanted == "CANCELLED" and ex["state"] not in TERMINAL_STATES:
                ex["state"] = wanted
        return 200, ex

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like Mistral behind its WSGI server
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if stub.hang_s and self.path.startswith(stub.hang_paths) and method in stub.hang_methods:
                    time.sleep(stub.hang_s)
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:  # a workflow or workbook definition is YAML text
                    body = raw.decode(errors="replace")
                status, reply = stub.handle(method, self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._serve("PUT")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


__all__ = ["StubMistral"]
