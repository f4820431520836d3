"""The run store: one directory per run, `store/<test>/<timestamp>/`, and `store/latest` pointing at the newest.

A run directory holds everything needed to re-check and re-render it offline: history.jsonl, witness.jsonl,
mistral-snapshot.json, results.json, test.yaml, compose.yaml, logs/<node>.log, report.html and PNG plots.
"""
from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import LabError

DEFAULT_STORE = Path("store")


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
