"""A fake Mistral 23 REST API for inspect / recover tests: rows shaped like Mistral's own JSON (field names and
value formats as in a lab's mistral-snapshot.json, read through the same API), its paging (marker, limit
clamped to a small max_limit), its list filters, its HTTP Date header, and a crude engine for the PUTs recover
makes (failing an action fails its task, rerunning a task runs it, failing an execution ends it)."""
from __future__ import annotations

import json
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from checker.tests.stuck_fixtures import NOW, ago


class FakeMistral:
    def __init__(self, executions: list[dict], tasks: list[dict], actions: list[dict], max_limit: int = 2) -> None:
        self.executions = {e["id"]: dict(e) for e in executions}
        self.tasks = {t["id"]: dict(t) for t in tasks}
        self.actions = {a["id"]: dict(a) for a in actions}
        self.max_limit = max_limit
        self.requests: list[tuple[str, str]] = []
        self.puts: list[tuple[str, dict]] = []
        self.refuse: dict[str, tuple[int, str]] = {}  # path -> (status, faultstring) for PUTs
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeMistral":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ GET
    def get(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")[1:]  # after v2
        tables = {"executions": self.executions, "tasks": self.tasks, "action_executions": self.actions}
        if len(parts) == 2 and parts[0] in tables:
            row = tables[parts[0]].get(parts[1])
            return (200, row) if row else (404, {"faultstring": f"{parts[0]} not found [id={parts[1]}]"})
        if parts == ["executions"]:
            return 200, {"executions": self._page(self.executions, query)}
        if len(parts) == 3 and parts[0] == "executions" and parts[2] == "tasks":
            return 200, {"tasks": self._page(self.tasks, {**query, "workflow_execution_id": parts[1]})}
        if parts == ["tasks"]:
            return 200, {"tasks": self._page(self.tasks, query)}
        if len(parts) == 3 and parts[0] == "tasks" and parts[2] == "action_executions":
            return 200, {"action_executions": self._page(self.actions, {**query, "task_execution_id": parts[1]})}
        if parts == ["action_executions"]:
            return 200, {"action_executions": self._page(self.actions, query)}
        return 404, {"faultstring": f"no route {path}"}

    def _page(self, table: dict[str, dict], query: dict[str, str]) -> list[dict]:
        rows = sorted(table.values(), key=lambda r: (r["created_at"], r["id"]))
        for key, wanted in query.items():
            if key in ("marker", "limit", "sort_keys", "sort_dirs", "fields"):
                continue
            if wanted.startswith("has:"):
                rows = [r for r in rows if wanted[4:] in str(r.get(key) or "")]
            else:
                rows = [r for r in rows if str(r.get(key)) == wanted]
        if query.get("marker"):
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(query["marker"]) + 1:] if query["marker"] in ids else []
        return [dict(r) for r in rows[:min(int(query.get("limit") or self.max_limit), self.max_limit)]]

    # ------------------------------------------------------------ PUT: a crude engine
    def put(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.puts.append((path, body))
        if path in self.refuse:
            status, message = self.refuse[path]
            return status, {"faultstring": message}
        kind, item_id = path.strip("/").split("/")[1:3]
        if kind == "executions":
            self.executions[item_id].update(state=body["state"], state_info=body.get("state_info"),
                                            updated_at=ago(0))
            return 200, self.executions[item_id]
        if kind == "action_executions":
            action_ex = self.actions[item_id]
            action_ex.update(state=body["state"], updated_at=ago(0))
            self.tasks[action_ex["task_execution_id"]].update(state=body["state"], updated_at=ago(0))
            return 200, action_ex
        if kind == "tasks":
            if self.tasks[item_id]["state"] != "ERROR":
                return 400, {"faultstring": "The current task execution must be in ERROR for rerun."}
            self.tasks[item_id].update(state="RUNNING", updated_at=ago(0))
            return 200, self.tasks[item_id]
        return 404, {"faultstring": f"no route {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return formatdate(NOW, usegmt=True)  # the API node's clock is the fixtures' NOW

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                with fake.lock:
                    fake.requests.append(("GET", self.path))
                    self._answer(*fake.get(parsed.path, query))

            def do_PUT(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with fake.lock:
                    fake.requests.append(("PUT", self.path))
                    self._answer(*fake.put(urlparse(self.path).path, body))

        return Handler


__all__ = ["FakeMistral"]
