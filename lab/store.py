"""The run store: one directory per run, `store/<test>/<timestamp>/`, and `store/latest` pointing at the newest.

A run directory holds everything needed to re-check and re-render it offline: history.jsonl, witness.jsonl,
mistral-snapshot.json, results.json, test.yaml, compose.yaml, logs/<node>.log, report.html and PNG plots.
Every earlier judgement a re-check replaced is kept as judgements/results-<UTC timestamp>.json.
"""
from __future__ import annotations

import html
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.errors import LabError
from history.run_dir import RESULTS_FILE, RUN_FILE
from history.run_dir import write_results as history_write_results

DEFAULT_STORE = Path("store")
JUDGEMENTS_DIR = "judgements"
# run.json fields the run pipeline records (absent in runs stored before it did: their results.json stands in)
PIPELINE_FIELDS = ("interrupted", "interrupted_phase", "lab_error", "lab_error_phase", "nemesis_errors")


@dataclass
class RunSummary:
    path: Path
    test: str
    started: str
    valid: object
    interrupted: bool


def new_run_dir(store: Path, test: str) -> Path:
    """Create store/<test>/<timestamp>/ (unique even for two runs in one second) and point latest at it."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    try:
        parent = store / test
        parent.mkdir(parents=True, exist_ok=True)
        run_dir = parent / stamp
        suffix = 1
        while True:
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                suffix += 1
                run_dir = parent / f"{stamp}-{suffix}"
        (run_dir / "logs").mkdir()
        point_latest(store, run_dir)
    except OSError as exc:
        raise LabError(f"cannot write the run store {store}: {exc.strerror or exc}") from exc
    return run_dir


def point_latest(store: Path, run_dir: Path) -> None:
    link = store / "latest"
    tmp = store / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.relative_to(store))
    tmp.replace(link)


def check_writable(store: Path) -> None:
    """Fail before anything starts when the store cannot be written."""
    try:
        store.mkdir(parents=True, exist_ok=True)
        probe = store / f".probe.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise LabError(f"cannot write the run store {store}: {exc.strerror or exc}") from exc


def list_runs(store: Path) -> list[RunSummary]:
    runs = []
    if not store.is_dir():
        return runs
    for results in sorted(store.glob("*/*/results.json")):
        run_dir = results.parent
        try:
            data = json.loads(results.read_text())
        except (OSError, ValueError):
            data = {"valid": "unreadable"}
        runs.append(RunSummary(run_dir, run_dir.parent.name, run_dir.name, data.get("valid"),
                               bool(data.get("interrupted"))))
    return sorted(runs, key=lambda r: r.started, reverse=True)


def write_index(store: Path, runs: list[RunSummary]) -> Path:
    """A static index.html of every run with its verdict, linking to each report."""
    rows = "".join(
        f"<tr><td>{html.escape(r.started)}</td><td>{html.escape(r.test)}</td>"
        f"<td class='v{str(r.valid).lower()}'>{html.escape(str(r.valid))}{' (interrupted)' if r.interrupted else ''}"
        f"</td><td><a href='{html.escape(str(r.path.relative_to(store)))}/report.html'>report</a></td></tr>"
        for r in runs)
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>mistral-lab runs</title><style>"
            "body{font-family:system-ui,sans-serif}td,th{border:1px solid #ccc;padding:.2em .6em}"
            "table{border-collapse:collapse}.vtrue{color:#2e7d32}.vfalse{color:#c62828}.vunknown{color:#ef6c00}"
            "</style></head><body><h1>mistral-lab runs</h1><table><tr><th>started</th><th>test</th>"
            f"<th>valid</th><th></th></tr>{rows}</table></body></html>")
    out = store / "index.html"
    out.write_text(page)
    return out


def stamp_minute(stamp: str | None) -> str:
    """A stored document's 2026-12-07T17:07:02Z as 2026-12-07 17:07 UTC (a date the docs' figure check reads)."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp and len(stamp) >= 16 else "?"


def write_text_atomic(path: Path, text: str) -> Path:
    """A temporary file renamed over `path`: a crash or Ctrl-C never leaves half a file behind."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return path


def write_json_atomic(path: Path, data: dict[str, Any], sort_keys: bool = True) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=1, sort_keys=sort_keys, default=str) + "\n")


def load_resumable(directory: Path, file_name: str, fmt: int, what: str) -> dict[str, Any]:
    """The JSON document a long command (map, release matrix) left in DIR, to go on with it; one LabError line
    when DIR holds none, or one unreadable or of another format."""
    path = Path(directory) / file_name
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"--resume {directory}: no {file_name} there to resume") from None
    except (OSError, ValueError) as exc:
        raise LabError(f"--resume {directory}: {file_name} is unreadable: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt or not isinstance(doc.get("cells"), dict):
        raise LabError(f"--resume {directory}: {file_name} is not {what} of format {fmt}")
    return doc


def update_run_file(run_dir: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Create or update run.json with `fields` (the workload runner writes it at the end of load; a run stopped
    earlier has none yet). An unreadable run.json is kept aside as run.json.unreadable, never lost."""
    path = run_dir / RUN_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            data = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            path.replace(run_dir / f"{RUN_FILE}.unreadable")
    data.update(fields)
    write_json_atomic(path, data)
    return data


def keep_previous_judgement(run_dir: Path) -> Path | None:
    """Copy results.json to judgements/results-<UTC timestamp>.json before a re-check replaces it; never
    overwrites an earlier copy. Returns the copy's path relative to run_dir (None: nothing judged yet)."""
    source = run_dir / RESULTS_FILE
    if not source.exists():
        return None
    content = source.read_bytes()
    folder = run_dir / JUDGEMENTS_DIR
    folder.mkdir(exist_ok=True)
    now = time.time()  # microseconds: two re-checks in one second still sort in the order they ran
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    for suffix in itertools.count(1):
        target = folder / (f"results-{stamp}.json" if suffix == 1 else f"results-{stamp}-{suffix}.json")
        try:
            with target.open("xb") as out:  # exclusive: an earlier copy is never overwritten
                out.write(content)
            return target.relative_to(run_dir)
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def read_object(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """A JSON object file; `default` when it is absent or unreadable (the checkers report that themselves)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return default
    return data if isinstance(data, dict) else default


def recorded_outcome(run_dir: Path) -> dict[str, Any]:
    """PIPELINE_FIELDS from run.json; a run stored before the pipeline recorded them there falls back on its
    previous judgement, so a re-check never forgets an interruption or a lab failure."""
    run = read_object(run_dir / RUN_FILE, {})
    previous = read_object(run_dir / RESULTS_FILE, {})
    return {name: run[name] if name in run else previous.get(name) for name in PIPELINE_FIELDS}


def write_results(run_dir: Path, results: dict[str, Any]) -> dict[str, Any]:
    """results.json, written by its owner (history.run_dir: verdict first, atomically)."""
    return history_write_results(run_dir, results)