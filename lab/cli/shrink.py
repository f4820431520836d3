"""`mistral-lab shrink RUN_DIR`: the smallest spec that still shows a stored run's defect (lab.findings.shrink).

Docker (lab.run) is imported only when a candidate is replayed, so building the CLI stays Docker-free."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab.store import DEFAULT_STORE, check_writable

out = Console()
err = Console(stderr=True)
EXIT_INTERRUPTED = 130


def shrink_run(run_dir: Path, out_dir: Path | None = None, cls: str | None = None, kind: str | None = None,
               budget: int = 12, tries: int = 1, store: Path = DEFAULT_STORE,
               replay: Callable[[Any], Any] | None = None, fresh: bool = False):
    """Load the run, search, print one line per candidate and the summary; returns the ShrinkResult.
    `replay` is injectable so tests need no Docker (default: a real run per candidate, lab.findings.shrink_run's
    RunReplay on a warm lab per topology, reset between candidates, or a new cluster each with `fresh`)."""
    from lab.findings.shrink_run import RunReplay, load_run
    from lab.warm import WarmLabs

    original = load_run(run_dir, cls, kind)
    if replay is not None:
        return _shrink(original, run_dir, out_dir, replay, budget, tries)
    check_writable(store)
    with WarmLabs("shrink", fresh=fresh, say=lambda line: err.print(f"\\[shrink] {escape(line)}")) as warm:
        return _shrink(original, run_dir, out_dir, RunReplay(original.target, store, run_fn=warm.run), budget,
                       tries)


def _shrink(original, run_dir: Path, out_dir: Path | None, replay: Callable[[Any], Any], budget: int, tries: int):
    from lab.findings.shrink import Shrinker

    out_dir = out_dir or Path(run_dir) / "shrink"
    shrinker = Shrinker(original, replay, out_dir, budget=budget, tries=tries, say=_progress(budget))
    err.print(f"\\[shrink] {escape(str(run_dir))}: target {original.target.label}, "
              f"{len(original.steps)} applied fault(s), budget {budget} run(s), {tries} tr"
              f"{'y' if tries == 1 else 'ies'} per candidate", highlight=False, soft_wrap=True)
    result = shrinker.run()
    print_summary(result)
    return result


def _progress(budget: int) -> Callable[[dict[str, Any]], None]:
    started = time.monotonic()
    used = [0]

    def say(record: dict[str, Any]) -> None:
        used[0] += int(record.get("runs") or 0)
        if record["phase"] == "original":
            return
        mark = "[green]reproduced[/]" if record["reproduced"] else "[yellow]not reproduced[/]"
        if record.get("interrupted"):
            mark = "[red]interrupted[/]"
        notes = [f"{record['inconclusive']} inconclusive run(s), replaced"] if record.get("inconclusive") else []
        notes += [f"lab failure: {escape(record['lab_errors'][-1])}"] if record.get("lab_errors") else []
        note = f" ({'; '.join(notes)})" if notes else ""
        err.print(f"\\[shrink] {record['step']:>2} {record['phase']:<8} {escape(record['candidate'])}: {mark}{note} "
                  f"in {record['seconds']:.0f} s; runs {used[0]}/{budget}, elapsed "
                  f"{(time.monotonic() - started) / 60:.1f} min", highlight=False, soft_wrap=True)
    return say


def _topology(figures: dict[str, Any]) -> str:
    t = figures["topology"]
    text = f"{t['apis']} api / {t['engines']} engine / {t['executors']} executor"
    return text + (f" / {t['notifiers']} notifier" if t.get("notifiers") else "")


def print_summary(result) -> None:
    summary = result.summary()
    before, after = summary["original"], summary["smallest"]
    table = Table(title=f"shrink: {result.target.label}", title_justify="left")
    for column in ("", "original", "smallest"):
        table.add_column(column)
    rows = [("faults", before["faults"], after["faults"]),
            ("time limit", f"{before['time_limit_s']:g} s", f"{after['time_limit_s']:g} s"),
            ("clients", f"{before['concurrency']} @ {before['rate']}/s", f"{after['concurrency']} @ {after['rate']}/s"),
            ("kinds", ",".join(before["kinds"] or []) or "-", ",".join(after["kinds"] or []) or "-"),
            ("topology", _topology(before), _topology(after))]
    for name, a, b in rows:
        table.add_row(name, str(a), str(b))
    out.print(table)
    stopped = {"done": "search complete", "budget": "budget spent",
               "interrupted": "interrupted (best so far kept)"}[summary["stopped"]]
    out.print(f"runs {summary['runs']} of {summary['budget']}, {summary['seconds'] / 60:.1f} min; {stopped}",
              highlight=False)
    out.print(f"smallest spec: {escape(summary['smallest_spec'])}", highlight=False, soft_wrap=True)
    out.print(f"log: {escape(summary['log'])}", highlight=False, soft_wrap=True)


def shrink(
    run_dir: Path = typer.Argument(..., help="A stored run directory that shows a defect anomaly."),
    cls: Optional[str] = typer.Option(None, "--class", help="The anomaly class to keep (default: the first defect's)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="The anomaly kind to keep (default: that defect's)."),
    budget: int = typer.Option(12, "--budget", help="Runs in total (each candidate try is one real run)."),
    tries: int = typer.Option(1, "--tries-per-candidate",
                              help="Runs per candidate; it reproduces when one of them shows the anomaly."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output directory (default RUN_DIR/shrink)."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store for the candidate runs."),
    fresh: bool = typer.Option(False, "--fresh", help="A new cluster for every candidate run instead of a reset "
                               "warm lab."),
) -> None:
    """Shrink a run to the smallest spec that still shows its defect.

    Delta debugging over the recorded fault schedule, then a shorter time limit, fewer clients, fewer workflow
    kinds and a smaller topology; every candidate is a real replay on a fresh cluster.

    Writes OUT/smallest.yaml (`mistral-lab run OUT/smallest.yaml` replays it) and OUT/shrink.log.jsonl.

    Exit 0 when done or the budget is spent, 130 when interrupted (the best spec so far is kept), 3 for a bad
    run directory or target."""
    result = shrink_run(run_dir, out_dir, cls, kind, budget, tries, store, fresh=fresh)
    raise typer.Exit(EXIT_INTERRUPTED if result.stopped == "interrupted" else 0)


def register(app: typer.Typer) -> None:
    app.command("shrink")(shrink)
