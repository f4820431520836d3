"""The two commands' work, without the CLI: read the facts (a live API or a stored snapshot), judge them with
checker.stuck, and plan, confirm and apply a recovery."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from checker.stuck import Thresholds, inspect_snapshot
from cluster.errors import LabError
from lab.operators.api import Auth, Mistral, connect
from lab.operators.render import inspect_document


def read_snapshot_file(path: str) -> dict[str, Any]:
    """A lab run's mistral-snapshot.json (or a run directory holding one), judged as of its `taken_at`."""
    file = Path(path)
    if file.is_dir():
        file = file / "mistral-snapshot.json"
    try:
        snapshot = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"--snapshot {path}: cannot read a Mistral snapshot ({exc})") from None
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("executions"), list):
        raise LabError(f"--snapshot {path}: not a Mistral snapshot (no executions list)")
    if not isinstance(snapshot.get("taken_at"), (int, float)):
        raise LabError(f"--snapshot {path}: no taken_at, so no time to judge it at")
    return {**snapshot, "now_source": "snapshot"}


def inspect(url: str | None, snapshot_file: str | None, auth: Auth, thresholds: Thresholds,
            timeout: float = 30.0) -> tuple[dict[str, Any], Mistral | None]:
    """inspect's JSON document, and the client used (None for a stored snapshot)."""
    if url is not None and snapshot_file is not None:
        raise LabError("give one of --url and --snapshot, not both")
    mistral = None
    if snapshot_file is not None:
        snapshot, source = read_snapshot_file(snapshot_file), snapshot_file
    else:
        mistral = connect(url, auth, timeout)
        snapshot, source = mistral.snapshot(thresholds.include_paused), mistral.url
    now = float(snapshot["taken_at"])
    items = inspect_snapshot(snapshot, now, thresholds)
    return inspect_document(source, snapshot, now, thresholds, items), mistral


def record_document(document: dict[str, Any], plan_json: dict[str, Any], outcomes: list[dict[str, Any]],
                    options: dict[str, Any], started: float) -> dict[str, Any]:
    """What recover --apply writes: what it saw, what it was allowed, every call and its outcome."""
    return {"tool": "mistral-lab recover", "source": document["source"], "inspected_at": document["now"],
            "started_at": started, "finished_at": time.time(), "options": options,
            "thresholds": document["thresholds"], "items": document["items"], "notes": plan_json["notes"],
            "calls": outcomes,
            "changed": [o for o in outcomes if o.get("outcome") == "ok"]}


__all__ = ["inspect", "read_snapshot_file", "record_document"]
