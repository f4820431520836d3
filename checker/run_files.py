"""Load a run directory's files for the offline checkers, with one clear error per problem.

Files: run.json (what ran), history.jsonl (client and nemesis events), witness.jsonl (physical action runs),
mistral-snapshot.json (Mistral's own view). Each is loaded on first use, so a checker that does not need a
file does not fail for its absence. A torn last witness/history line is a warning; anything else malformed
is a LabError naming file:line.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from history.events import Event, HistoryError
from history.witness import WitnessRun, witness_runs
from history.pairing import Operation, pair_operations
from history.reader import TornLineWarning, read_history
from cluster.errors import LabError

RUN_FILE, HISTORY_FILE, WITNESS_FILE, SNAPSHOT_FILE = "run.json", "history.jsonl", "witness.jsonl", \
    "mistral-snapshot.json"


def _require(path: Path) -> Path:
    if not path.exists():
        raise LabError(f"{path}: missing (a run directory needs it for this check)")
    if not path.is_file():
        raise LabError(f"{path}: not a file")
    return path


def read_witness(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    """The witness log's records; a torn last line is skipped with a note, a bad middle line is an error."""
    text = _require(path).read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    complete = text.endswith("\n")
    if complete:
        lines.pop()
    records = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("a record must be a JSON object")
        except ValueError as exc:
            if number == len(lines) and not complete:
                notes.append(f"{path}:{number}: torn last line skipped (the witness stopped mid-line)")
                break
            raise LabError(f"{path}:{number}: malformed witness record: {exc}") from None
        records.append(record)
    return records


@dataclass
class RunFiles:
    """A run directory, loaded lazily."""

    dir: Path
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, run_dir: str | Path) -> "RunFiles":
        path = Path(run_dir)
        if not path.is_dir():
            raise LabError(f"{path}: not a run directory")
        return cls(path)

    @cached_property
    def run(self) -> dict[str, Any]:
        path = _require(self.dir / RUN_FILE)
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise LabError(f"{path}: malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise LabError(f"{path}: expected a JSON object")
        return data

    @cached_property
    def events(self) -> list[Event]:
        path = _require(self.dir / HISTORY_FILE)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TornLineWarning)
            try:
                events = read_history(path)
            except HistoryError as exc:
                raise LabError(str(exc)) from None
        self.notes.extend(str(w.message) for w in caught if issubclass(w.category, TornLineWarning))
        return events

    @cached_property
    def ops(self) -> list[Operation]:
        try:
            return pair_operations(self.events)
        except HistoryError as exc:
            raise LabError(str(exc.located(str(self.dir / HISTORY_FILE)))) from None

    @cached_property
    def witness(self) -> list[WitnessRun]:
        return witness_runs(read_witness(self.dir / WITNESS_FILE, self.notes))

    @cached_property
    def snapshot(self) -> dict[str, Any]:
        path = _require(self.dir / SNAPSHOT_FILE)
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise LabError(f"{path}: malformed JSON: {exc}") from None
        for key in ("executions", "tasks", "action_executions"):
            if not isinstance(data.get(key), list):
                raise LabError(f"{path}: missing list {key!r}")
        return data

    def started_ops(self) -> list[Operation]:
        """Ops by which clients started executions (f="start", key = the execution id)."""
        return [op for op in self.ops if op.f == "start" and op.key is not None]


__all__ = ["RunFiles", "read_witness", "witness_runs",
           "RUN_FILE", "HISTORY_FILE", "WITNESS_FILE", "SNAPSHOT_FILE"]
