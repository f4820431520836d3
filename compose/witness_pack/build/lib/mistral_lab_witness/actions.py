"""`lab.witness`: an action whose every physical run is reported to the witness service outside Mistral.

Mistral's own database cannot tell whether a side effect happened twice; the witness log can. Each run posts a
"start" record before doing anything and an "end" record after, both carrying one run_id, so a run cut short by
a killed executor still leaves its start behind.
"""
from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
import uuid

from mistral_lib import actions

WITNESS_URL = os.environ.get("MISTRAL_LAB_WITNESS_URL", "http://witness:7777")
REPORT_DEADLINE_S = 30.0


def _post(record: dict) -> None:
    """Deliver one record; retry briefly because the witness may be momentarily busy, never silently drop."""
    body = json.dumps(record).encode()
    deadline = time.monotonic() + REPORT_DEADLINE_S
    while True:
        try:
            request = urllib.request.Request(f"{WITNESS_URL}/record", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class WitnessAction(actions.Action):
    """Sleep `seconds` (to widen the window a fault can hit), optionally fail, report every physical run."""

    def __init__(self, seconds: float = 0.0, fail: bool = False, idempotent: bool = False,
                 label: str = "", item=None):
        super().__init__()
        self.seconds = float(seconds)
        self.fail = bool(fail)
        self.idempotent = bool(idempotent)
        self.label = label
        self.item = item

    def _record(self, context, phase: str, run_id: str, started: float) -> dict:
        execution = getattr(context, "execution", None)
        security = getattr(context, "security", None)
        return {
            "phase": phase,
            "run_id": run_id,
            "action_execution_id": getattr(execution, "action_execution_id", None),
            "task_execution_id": getattr(execution, "task_execution_id", None),
            "workflow_execution_id": getattr(execution, "workflow_execution_id", None),
            "workflow_name": getattr(execution, "workflow_name", None),
            "with_items_index": getattr(execution, "with_items_index", None),
            "rerun_no": getattr(execution, "task_rerun_no", None),
            "redelivered": getattr(security, "redelivered", None),
            "executor": os.environ.get("MISTRAL_NODE") or socket.gethostname(),
            "label": self.label,
            "item": self.item,
            "idempotent": self.idempotent,
            "will_fail": self.fail,
            "start_time": started,
            "end_time": time.time() if phase == "end" else None,
        }

    def run(self, context):
        run_id = uuid.uuid4().hex
        started = time.time()
        _post(self._record(context, "start", run_id, started))
        if self.seconds > 0:
            time.sleep(self.seconds)
        _post(self._record(context, "end", run_id, started))
        if self.fail:
            return actions.Result(error=f"witness action {self.label!r} failed on demand")
        return {"run_id": run_id, "label": self.label, "item": self.item}

    def test(self, context):
        return {"run_id": None, "label": self.label, "item": self.item}

    def is_sync(self) -> bool:
        return True
