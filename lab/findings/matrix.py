"""The release matrix (`mistral-lab findings --versions ...`): each selected finding replayed on each column (a
Mistral release, maybe with a variant: lab.findings.columns), one cell per finding x column
(lab.findings.matrix_cell, which also states the cells' status rules).

The cells run column by column (the findings of one release share its warm lab, reset between tries), and
versions.json (with versions.html) is rewritten after every finished cell, so a Ctrl-C loses at most the cell in
progress: it is not recorded, and `--resume DIR` skips every cell already in DIR/versions.json.
"""
from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any, Callable

from cluster.errors import LabError
from lab.findings.catalogue import Finding
from lab.findings.columns import Column
from lab.findings.matrix_cell import ANSWERED, CANNOT_RUN, cell_key, run_cell
from lab.findings.matrix_html import write_html
from lab.findings.replay import RunFn, Try
from lab.store import load_resumable, write_json_atomic

MATRIX_FILE = "versions.json"
FORMAT = 1
EXIT_DONE, EXIT_UNANSWERED, EXIT_INTERRUPTED = 0, 2, 130
Say = Callable[[str], None]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_matrix(tries: int, command: str) -> dict[str, Any]:
    return {"format": FORMAT, "settings": {"tries": tries}, "command": command, "started": _now(),
            "updated": None, "stopped": None, "columns": {}, "findings": [], "selected": [], "cells": {}}


def load_matrix(directory: Path) -> dict[str, Any]:
    """A stored matrix to resume; LabError when DIR holds none."""
    return load_resumable(directory, MATRIX_FILE, FORMAT, "a release matrix")


def resumed_tries(doc: dict[str, Any], asked: int | None) -> int:
    """The stored matrix's tries per cell; another --tries now would make its cells incomparable."""
    stored = int(doc["settings"]["tries"])
    if asked is not None and asked != stored:
        raise LabError(f"--resume: the matrix was made with --tries {stored}, not {asked}; resume it without "
                       "--tries, or start a new matrix")
    return stored


def save(out_dir: Path, doc: dict[str, Any]) -> None:
    """versions.json atomically, then versions.html from it (the json is the matrix; the page is a view)."""
    doc["updated"] = _now()
    write_json_atomic(out_dir / MATRIX_FILE, doc, sort_keys=False)
    write_html(out_dir, doc)


class Progress:
    """'cell k of n' lines with the elapsed time and an estimate of what is left: the mean cell that ran tries
    so far times the cells left (a cell that cannot run costs about nothing, so it is not in the mean)."""

    def __init__(self, todo: int, say: Say, clock: Callable[[], float] = time.monotonic) -> None:
        self.todo, self.say, self.clock = todo, say, clock
        self.started = clock()
        self.run_seconds: list[float] = []

    def before(self, k: int, key: str) -> None:
        self.say(f"cell {k} of {self.todo}: {key} ...")

    def after(self, k: int, key: str, entry: dict[str, Any]) -> None:
        if entry["status"] != CANNOT_RUN:
            self.run_seconds.append(float(entry.get("seconds") or 0.0))
        left = self.todo - k
        mean = sum(self.run_seconds) / len(self.run_seconds) if self.run_seconds else None
        estimate = f"about {_minutes(left * mean)} left for {left} cell(s)" if mean is not None and left else \
            "nothing left" if not left else "no estimate yet"
        self.say(f"cell {k} of {self.todo}: {key}: {entry['rule'][:300]}; elapsed "
                 f"{_minutes(self.clock() - self.started)}, {estimate}")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _select(doc: dict[str, Any], catalogue: list[Finding], columns: list[Column]) -> list[tuple[Finding, Column]]:
    """The cells asked now, column by column; the doc keeps the union of every selection it has run."""
    for column in columns:
        doc["columns"][column.label] = {"mistral_version": column.version,
                                        "mistral_config": dict(column.mistral_config)}
    doc["findings"] = list(dict.fromkeys([*doc["findings"], *(f.id for f in catalogue)]))
    cells = [(finding, column) for column in columns for finding in catalogue]
    doc["selected"] = list(dict.fromkeys([*doc["selected"], *(cell_key(f.id, c.label) for f, c in cells)]))
    return cells


def run_matrix(catalogue: list[Finding], columns: list[Column], doc: dict[str, Any], out_dir: Path, store: Path,
               run_fn: RunFn, say: Say = lambda _: None,
               clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Run every selected cell not yet in `doc`, saving after each; returns the doc (`stopped` set when a
    Ctrl-C ended it early)."""
    tries = int(doc["settings"]["tries"])
    cells = _select(doc, catalogue, columns)
    doc["stopped"] = None
    todo = [(f, c) for f, c in cells if cell_key(f.id, c.label) not in doc["cells"]]
    if len(todo) < len(cells):
        say(f"resuming: {len(cells) - len(todo)} of {len(cells)} selected cells already in {MATRIX_FILE}, "
            f"{len(todo)} to go")
    progress = Progress(len(todo), say, clock)
    failed_bring_ups: dict[str, tuple[str, str]] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for k, (finding, column) in enumerate(todo, 1):
            key = cell_key(finding.id, column.label)
            progress.before(k, key)
            entry, interrupted = run_cell(finding, column, tries, store, run_fn, failed_bring_ups,
                                          on_try=_say_try(say, column))
            if interrupted:
                doc["stopped"] = f"interrupted in cell {key}: it is not recorded, a resume runs it again"
                break
            doc["cells"][key] = entry
            save(out_dir, doc)
            progress.after(k, key, entry)
    except KeyboardInterrupt:
        doc["stopped"] = "interrupted between runs: the cell in progress is not recorded, a resume runs it again"
    save(out_dir, doc)
    return doc


def _say_try(say: Say, column: Column) -> Callable[[Finding, Try], None]:
    def said(finding: Finding, one: Try) -> None:
        why = one.why_inconclusive()
        what = ("reproduced" if one.matched else "no match") if why is None else \
            f"{'matched but ' if one.matched else ''}inconclusive ({why}): not counted"
        say(f"{cell_key(finding.id, column.label)} seed {one.seed}: {what} ({one.run_dir})")
    return said


def exit_code(doc: dict[str, Any], keys: list[str]) -> int:
    """130 when stopped early; 2 when a selected cell has no rate (inconclusive, cannot run, or not run);
    else 0, whatever the statuses: the matrix is knowledge, not a pass."""
    if doc.get("stopped"):
        return EXIT_INTERRUPTED
    statuses = [(doc["cells"].get(key) or {}).get("status") for key in keys]
    return EXIT_DONE if all(s in ANSWERED for s in statuses) else EXIT_UNANSWERED


__all__ = ["EXIT_DONE", "EXIT_INTERRUPTED", "EXIT_UNANSWERED", "FORMAT", "MATRIX_FILE", "Progress", "exit_code",
           "load_matrix", "new_matrix", "resumed_tries", "run_matrix", "save"]
