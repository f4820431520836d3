"""`mistral-lab check`: offline linearizability check of history files."""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError
from history.run_dir import RUN_FILE
from history.verdict import EXIT_BAD_INPUT, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID

if TYPE_CHECKING:  # the checker itself is imported by the command that runs it: `--help` stays fast
    from checker.batch import FileOutcome



def _parse_time_limit(text: Optional[str]) -> float | None:
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise LabError(f"--time-limit must be a number of seconds, got {text!r}") from None
    if seconds <= 0:
        raise LabError(f"--time-limit must be positive, got {text!r}")
    return seconds


def exit_code(outcomes: list[FileOutcome]) -> int:
    """3 if any input was bad, else 1 if any invalid, else 2 if any unknown, else 0."""
    if any(o.error for o in outcomes):
        return EXIT_BAD_INPUT
    from checker.check import UNKNOWN

    verdicts = [o.result.valid for o in outcomes if o.result]
    if False in verdicts:
        return EXIT_INVALID
    if UNKNOWN in verdicts:
        return EXIT_UNKNOWN
    return EXIT_VALID


def _human_line(outcome: FileOutcome) -> str:
    result = outcome.result
    assert result is not None
    size = f"{result.ops} ops, {result.keys} keys, {result.model}, {result.elapsed_s:.3f} s"
    if result.valid is True:
        note = " - empty history" if result.ops == 0 else ""
        return f"{outcome.path}: valid ({size}){note}"
    if result.valid is False:
        example = result.counterexample or {}
        return f"{outcome.path}: INVALID ({size}): {example.get('explanation')}"
    return f"{outcome.path}: unknown ({size}): {result.reason}"


def _write_html(outcome: FileOutcome, html_dir: str, err_console: Console) -> str | None:
    result = outcome.result
    if result is None or result.valid is not False:
        return None
    from checker.report_html import write_report

    stem = os.path.basename(os.path.normpath(outcome.path)) or "history"
    try:
        os.makedirs(html_dir, exist_ok=True)
        return write_report(result, os.path.join(html_dir, f"{stem}.html"))
    except Exception as exc:  # the verdict stands without its picture: say so, do not crash
        err_console.print(f"[yellow]warning:[/] {escape(outcome.path)}: no HTML view ({escape(f'{type(exc).__name__}: {exc}')})")
        return None


def check_command(
    paths: list[str] = typer.Argument(None, help="History files (a run directory: its history.jsonl)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="register, cas-register, kv-append, mutex, multi-register (default: by format, else cas-register)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="jsonl, jepsen-edn, jepsen-log or porcupine-kv (default: by file extension, else jsonl)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file per line."),
    time_limit: Optional[str] = typer.Option(None, "--time-limit", help="Seconds per file before the verdict is 'unknown'."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Check files in this many processes."),
    html_dir: Optional[str] = typer.Option(None, "--html", help="Write an HTML view of each invalid history into this directory."),
) -> None:
    """Check histories for linearizability. Exit 0 all valid, 1 any invalid, 2 some unknown, 3 bad input."""
    if not paths:
        raise LabError("check needs at least one history PATH")
    if len(paths) == 1 and os.path.isfile(os.path.join(paths[0], RUN_FILE)):
        from pathlib import Path

        from lab.cli.run import judge_run_dir_command  # a run directory: every checker of the run

        code = judge_run_dir_command(Path(paths[0]), as_json)
        if code:
            raise typer.Exit(code)
        return
    from checker.batch import check_paths, validate_choices

    try:
        validate_choices(fmt, model)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    limit = _parse_time_limit(time_limit)
    err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    outcomes: list[FileOutcome] = []
    for outcome in check_paths(list(paths), fmt, model, time_limit=limit, jobs=max(1, jobs)):
        outcomes.append(outcome)
        for warning in outcome.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)
        if outcome.error:  # escaped: file names and values may hold [brackets]
            err_console.print(f"[bold red]error:[/] {escape(outcome.error)}", markup=True)
            continue
        report = _write_html(outcome, html_dir, err_console) if html_dir else None
        if as_json:
            record: dict[str, Any] = {"file": outcome.path, **outcome.result.to_json()}
            if report:
                record["html"] = report
            print(json.dumps(record, default=str), flush=True)
        else:  # plain print: these lines are data (paths, values), not rich markup or emoji codes
            print(_human_line(outcome), flush=True)
            if report:
                print(f"  HTML view: {report}", flush=True)
    code = exit_code(outcomes)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
