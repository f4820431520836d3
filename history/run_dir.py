"""The run directory's one owner: its file names and the loaders of every file a run writes.

    RunFiles.open(run_dir)      -> the directory, each file loaded on first use (one LabError line per problem)
    files.spec                  -> test.yaml as a dict ({} when absent); files.has_spec tells which
    files.planned_faults        -> the schedule the run meant to apply (test.yaml `planned_faults`)
    files.run / events / ops / witness / snapshot / results
    read_results(run_dir), write_results(run_dir, results)

Every other module names a run file through the constants here, never as a string of its own; fault windows
are read from the history by history.faults, the one reader of them.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any


from history.errors import LabError
from history.events import Event, HistoryError
from history.pairing import Operation, pair_operations
from history.reader import TornLineWarning, read_history
from history.witness import WitnessRun, witness_runs

RUN_FILE = "run.json"                  # what ran (the workload runner writes it at the end of load)
HISTORY_FILE = "history.jsonl"         # client and nemesis events
WITNESS_FILE = "witness.jsonl"         # physical action runs
SNAPSHOT_FILE = "mistral-snapshot.json"  # Mistral's own view at the end
SPEC_FILE = "test.yaml"                # the spec as run, with the planned fault schedule
RESULTS_FILE = "results.json"          # the judgement
TOPOLOGY_FILE = "topology.json"        # the cluster as built
REPORT_FILE = "report.html"
LOGS_DIR = "logs"                      # logs/<node>.log


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


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_require(path).read_text())
    except ValueError as exc:
        raise LabError(f"{path}: malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LabError(f"{path}: expected a JSON object")
    return data


def read_spec(run_dir: Path) -> dict[str, Any]:
    """test.yaml as written by the run pipeline ({} when absent or unreadable: a plain history run)."""
    import yaml  # here, not at the top: the CLI's --help imports this module for its constants

    path = Path(run_dir) / SPEC_FILE
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def read_results(run_dir: Path | str | None) -> dict[str, Any]:
    """A stored judgement ({} when there is none or it cannot be read)."""
    path = Path(run_dir) / RESULTS_FILE if run_dir else None
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_results(run_dir: Path, results: dict[str, Any]) -> dict[str, Any]:
    """results.json with the overall verdict first (a person, or `head`, sees it at once); written to a temporary
    file and renamed, so a crash never leaves half a judgement."""
    ordered = {"valid": results.pop("valid", "unknown"), **results}
    target = Path(run_dir) / RESULTS_FILE
    temporary = target.with_name(f".{RESULTS_FILE}.tmp")
    temporary.write_text(json.dumps(ordered, indent=1, default=str) + "\n")
    os.replace(temporary, target)
    return ordered


def declare_no_faults(run_dir: Path, name: str) -> None:
    """A test.yaml saying the run planned no fault, for runs made without a spec (`mistral-lab workload`): the
    faults gate then knows the plan instead of guessing it from an empty history."""
    import yaml

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / SPEC_FILE).write_text(yaml.safe_dump({"name": name, "nemesis": {}, "planned_faults": []}))


@dataclass
class RunFiles:
    """A run directory, loaded lazily: a checker that does not need a file does not fail for its absence."""

    dir: Path
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, run_dir: str | Path) -> "RunFiles":
        path = Path(run_dir)
        if not path.is_dir():
            raise LabError(f"{path}: not a run directory")
        return cls(path)

    def has(self, name: str) -> bool:
        return (self.dir / name).exists()

    @cached_property
    def run(self) -> dict[str, Any]:
        return read_json_object(self.dir / RUN_FILE)

    @cached_property
    def spec(self) -> dict[str, Any]:
        return read_spec(self.dir)

    @property
    def has_spec(self) -> bool:
        return self.has(SPEC_FILE)

    @cached_property
    def planned_faults(self) -> list[dict[str, Any]]:
        """The schedule the run meant to apply (written before anything started); [] without one."""
        planned = self.spec.get("planned_faults")
        return [p for p in planned if isinstance(p, dict)] if isinstance(planned, list) else []

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
        data = read_json_object(self.dir / SNAPSHOT_FILE)
        for key in ("executions", "tasks", "action_executions"):
            if not isinstance(data.get(key), list):
                raise LabError(f"{self.dir / SNAPSHOT_FILE}: missing list {key!r}")
        return data

    @property
    def snapshot_wall(self) -> float | None:
        """When the final snapshot was taken (epoch seconds), if there is one."""
        if not self.has(SNAPSHOT_FILE):
            return None
        taken = self.snapshot.get("taken_at")
        return float(taken) if isinstance(taken, (int, float)) else None

    @property
    def start_wall(self) -> float:
        """The history's time zero (epoch seconds): run.json's start_wall, 0 for a run without one."""
        value = self.run.get("start_wall") if self.has(RUN_FILE) else None
        return float(value) if isinstance(value, (int, float)) else 0.0

    @cached_property
    def results(self) -> dict[str, Any]:
        return read_results(self.dir)

    def started_ops(self) -> list[Operation]:
        """Ops by which clients started executions (f="start", key = the execution id), failed ones too."""
        return [op for op in self.ops if op.f == "start" and op.key is not None]


__all__ = ["HISTORY_FILE", "LOGS_DIR", "REPORT_FILE", "RESULTS_FILE", "RUN_FILE", "RunFiles", "SNAPSHOT_FILE",
           "SPEC_FILE", "TOPOLOGY_FILE", "WITNESS_FILE", "declare_no_faults", "read_json_object", "read_results", "read_spec",
           "read_witness", "write_results"]
