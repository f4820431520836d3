"""The witness service: an append-only, fsync'd JSON Lines log of every physical action run.

Runs in its own container, outside every fault's reach. POST /record appends one record (stamped with the
witness's own receive time and a sequence number) and fsyncs before answering, so an acknowledged record
survives a crash. GET /records returns the whole log; GET /health answers "ok"; POST /reset empties the log
(`mistral-lab reset`: the lab as a fresh `up` leaves it).
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WitnessLog:
    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self.sequence = self._count_existing()
        self.file = open(path, "a", encoding="utf-8")

    def _count_existing(self) -> int:
        if not os.path.exists(self.path):
            return 0
        with open(self.path, encoding="utf-8") as existing:
            return sum(1 for _ in existing)

    def append(self, record: dict) -> int:
        with self.lock:
            record = {"seq": self.sequence, "received": time.time(), **record}
            self.file.write(json.dumps(record, sort_keys=True) + "\n")
            self.file.flush()
            os.fsync(self.file.fileno())
            self.sequence += 1
            return record["seq"]

    def reset(self) -> None:
        with self.lock:
            self.file.truncate(0)
            self.file.flush()
            os.fsync(self.file.fileno())
            self.sequence = 0


def make_handler(log: WitnessLog):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/reset":
                log.reset()
                return self._reply(200, b'{"reset": true}')
            if self.path != "/record":
                return self._reply(404, b'{"error": "not found"}')
            length = int(self.headers.get("Content-Length") or 0)
            try:
                record = json.loads(self.rfile.read(length))
                if not isinstance(record, dict):
                    raise ValueError("a record is a JSON object")
            except ValueError as exc:
                return self._reply(400, json.dumps({"error": str(exc)}).encode())
            seq = log.append(record)
            self._reply(200, json.dumps({"seq": seq}).encode())

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                return self._reply(200, b"ok", "text/plain")
            if self.path == "/records":
                with log.lock, open(log.path, "rb") as source:
                    return self._reply(200, source.read(), "application/x-ndjson")
            self._reply(404, b'{"error": "not found"}')

        def log_message(self, *args) -> None:  # keep container logs for real problems
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", default="/witness/witness.jsonl")
    parser.add_argument("--port", type=int, default=7777)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.log), exist_ok=True)
    server = ThreadingHTTPServer(("0.0.0.0", args.port), make_handler(WitnessLog(args.log)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
