"""The map loop: each selected cell's seeded attempts through a run function (warm labs in the command), the
cell classified from its runs' results.json, map.json (and map.html) rewritten after every cell.

A cell already in the map is skipped, so `--resume DIR` goes on where a Ctrl-C or a crash stopped. A cell whose
run was interrupted is not recorded (a resume runs it again); Ctrl-C between runs stops the same way.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from cluster.errors import LabError
from history.run_dir import read_results
from lab.map.cell_spec import cannot_exercise, cell_seed, cell_spec
from lab.map.cells import Cell
from lab.map.classify import CANNOT, INCONCLUSIVE, UNANSWERED, classify, combine
from lab.map.render import write_html
from lab.store import load_resumable, write_json_atomic

MAP_FILE = "map.json"
FORMAT = 1
EXIT_DONE, EXIT_UNANSWERED, EXIT_INTERRUPTED = 0, 2, 130
RunFn = Callable[[Any, Path], Any]  # (spec, store) -> an outcome with run_dir, interrupted, lab_error
Say = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """What every cell of one map shares; a resumed map keeps its own."""

    base_seed: int = 1
    tries: int = 1
    mistral_version: str | None = None
    mistral_src: str | None = None

    def check(self) -> None:
        if self.tries < 1:
            raise LabError(f"--tries {self.tries}: must be at least 1")
        if self.mistral_version is not None and self.mistral_src is not None:
            raise LabError("give either --version or --mistral-src, not both")
        if self.mistral_src is not None and not Path(self.mistral_src).is_dir():
            raise LabError(f"--mistral-src {self.mistral_src}: not a directory")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_map(settings: Settings, command: str) -> dict[str, Any]:
    return {"format": FORMAT, "settings": asdict(settings), "command": command, "started": _now(),
            "updated": None, "stopped": None, "selected": [], "cells": {}}


def load_map(directory: Path) -> dict[str, Any]:
    """A stored map to resume; LabError when DIR holds none."""
    return load_resumable(directory, MAP_FILE, FORMAT, "a map")


def resumed_settings(doc: dict[str, Any], asked: dict[str, Any]) -> Settings:
    """The stored map's settings; a flag given now that differs from them is an error (the cells would not be
    comparable)."""
    stored = Settings(**{k: v for k, v in (doc.get("settings") or {}).items() if k in Settings.__annotations__})
    for name, value in asked.items():
        if value is not None and value != getattr(stored, name):
            raise LabError(f"--resume: the map was made with {name}={getattr(stored, name)!r}, not {value!r}; "
                           "resume it without that flag, or start a new map")
    return stored


def save(out_dir: Path, doc: dict[str, Any]) -> None:
    """map.json atomically, then map.html from it (a crash between the two leaves the json, which is the map)."""
    doc["updated"] = _now()
    write_json_atomic(out_dir / MAP_FILE, doc, sort_keys=False)
    write_html(out_dir, doc)


def run_attempt(cell: Cell, attempt: int, settings: Settings, store: Path, run_fn: RunFn) -> dict[str, Any]:
    """One seeded run of a cell, classified from its stored results.json."""
    seed = cell_seed(settings.base_seed, cell, attempt)
    spec = cell_spec(cell, seed, settings.mistral_version,
                     Path(settings.mistral_src) if settings.mistral_src else None)
    started = time.monotonic()
    try:
        outcome = run_fn(spec, store)
    except LabError as exc:  # refused before any run dir existed (a lab name in use, no Docker, ...)
        return {**classify({}, lab_error=str(exc)), "seed": seed,
                "run_dir": None, "seconds": round(time.monotonic() - started, 1), "interrupted": False}
    run_dir = getattr(outcome, "run_dir", None)
    interrupted = bool(getattr(outcome, "interrupted", False))
    entry = classify(read_results(run_dir), interrupted, getattr(outcome, "lab_error", None))
    return {**entry, "seed": seed, "run_dir": str(run_dir) if run_dir else None,
            "report": str(Path(run_dir) / "report.html") if run_dir else None,
            "replay": replay_command(run_dir, settings) if run_dir else None,
            "seconds": round(time.monotonic() - started, 1), "interrupted": interrupted}


def replay_command(run_dir: Path | str, settings: Settings) -> str:
    """`run --replay` rebuilds the spec in test.yaml, which names a release, never a source tree: say so."""
    command = f"mistral-lab run --replay {run_dir}"
    if settings.mistral_src:
        command += f"  # ran on Mistral built from {settings.mistral_src}; --replay uses the PyPI release"
    return command


def run_cell(cell: Cell, settings: Settings, store: Path, run_fn: RunFn) -> tuple[dict[str, Any], bool]:
    """(the cell's map entry, interrupted). A cell the lab cannot exercise is recorded without a run."""
    head = {"method": cell.method, "side": cell.side, "action": cell.action}
    why = cannot_exercise(cell)
    if why is not None:
        return {**head, "class": CANNOT, "reason": why, "tries": [], "seconds": 0.0}, False
    tries: list[dict[str, Any]] = []
    for attempt in range(1, settings.tries + 1):
        one = run_attempt(cell, attempt, settings, store, run_fn)
        if one["interrupted"]:
            return {**head, **one}, True
        tries.append(one)
    cell_entry = combine(tries)
    cell_entry["seconds"] = round(sum(t["seconds"] for t in tries), 1)
    return {**head, **cell_entry}, False


class Progress:
    """'cell k of n: ...' lines with the elapsed time and an estimate of what is left (the mean run cell so
    far times the run cells left; a cell the lab cannot exercise costs nothing)."""

    def __init__(self, todo: list[Cell], say: Say, clock: Callable[[], float] = time.monotonic) -> None:
        self.todo, self.say, self.clock = todo, say, clock
        self.started = clock()
        self.run_seconds: list[float] = []

    def before(self, k: int, cell: Cell) -> None:
        if cannot_exercise(cell) is None:
            self.say(f"cell {k} of {len(self.todo)}: {cell.key} ...")

    def after(self, k: int, cell: Cell, entry: dict[str, Any]) -> None:
        if entry["class"] != CANNOT:
            self.run_seconds.append(float(entry.get("seconds") or 0.0))
        left = sum(1 for c in self.todo[k:] if cannot_exercise(c) is None)
        elapsed = self.clock() - self.started
        estimate = (f"about {_minutes(left * sum(self.run_seconds) / len(self.run_seconds))} left for {left} "
                    "run cell(s)") if self.run_seconds else "no estimate yet"
        self.say(f"cell {k} of {len(self.todo)}: {cell.key}: {entry['class']} ({entry['reason'][:160]}); "
                 f"elapsed {_minutes(elapsed)}, {estimate}")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def run_map(cells: list[Cell], doc: dict[str, Any], out_dir: Path, store: Path, run_fn: RunFn,
            say: Say = lambda _: None, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Run every selected cell not yet in `doc`, saving after each; returns the doc (`stopped` set when a
    Ctrl-C ended it early)."""
    settings = Settings(**doc["settings"])
    doc["selected"] = list(dict.fromkeys([*doc.get("selected", []), *(c.key for c in cells)]))
    doc["stopped"] = None
    done = [c for c in cells if c.key in doc["cells"]]
    todo = [c for c in cells if c.key not in doc["cells"]]
    if done:
        say(f"resuming: {len(done)} of {len(cells)} selected cells already in {MAP_FILE}, {len(todo)} to go")
    progress = Progress(todo, say, clock)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for k, cell in enumerate(todo, 1):
            progress.before(k, cell)
            entry, interrupted = run_cell(cell, settings, store, run_fn)
            if interrupted:
                doc["stopped"] = f"interrupted in cell {cell.key}: it is not recorded, a resume runs it again"
                break
            doc["cells"][cell.key] = entry
            save(out_dir, doc)
            progress.after(k, cell, entry)
    except KeyboardInterrupt:
        doc["stopped"] = "interrupted between runs"
    save(out_dir, doc)
    return doc


def exit_code(doc: dict[str, Any], cells: list[Cell]) -> int:
    """130 when stopped early; 2 when a selected cell is still unanswered (not exercised or inconclusive);
    else 0, whatever the classes: the map is knowledge, not a pass."""
    if doc.get("stopped"):
        return EXIT_INTERRUPTED
    classes = [(doc["cells"].get(c.key) or {"class": INCONCLUSIVE})["class"] for c in cells]
    return EXIT_UNANSWERED if any(c in UNANSWERED for c in classes) else EXIT_DONE


__all__ = ["EXIT_DONE", "EXIT_INTERRUPTED", "EXIT_UNANSWERED", "MAP_FILE", "Progress", "Settings", "exit_code",
           "load_map", "new_map", "replay_command", "resumed_settings", "run_attempt", "run_cell", "run_map", "save"]
