"""`mistral-lab workload NAME`: run a workload against a running lab, collect its files, check them.
`mistral-lab check-run DIR`: run the checkers offline on a run directory.

Exit codes: 0 valid, 1 invalid, 2 unknown, 3 lab/input error (raised as LabError, printed as one line).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from cluster.errors import LabError
from history.verdict import exit_code

out = Console()
CHECKS_FILE = "checks.json"


def _summary(name: str, result: dict[str, Any]) -> str:
    """One line per checker: its verdict and the figures or reason that matter."""
    valid = result.get("valid")
    mark = {True: "[green]valid[/]", False: "[red]INVALID[/]"}.get(valid, "[yellow]unknown[/]")  # type: ignore[arg-type]
    detail = result.get("reason") or ""
    if name == "perf":
        ops = result.get("ops", {})
        detail = ", ".join(f"{f}: {v['count']} ops p50 {v['latency_ms'].get('p50', '-')} ms"
                           for f, v in ops.items())
    elif name == "exactly-once" and not detail:
        detail = (f"{result['runs']} runs, duplicates {result['duplicate_count']}, phantoms "
                  f"{result['phantom_count']}, missing {result['missing_count']}, interrupted "
                  f"{result['interrupted_count']}")
    elif name == "completion" and not detail:
        detail = f"{result['started']} started, terminal {result['terminal']}, stuck {result['stuck_count']}"
    elif name == "succeeded-despite-faults" and not detail:
        detail = f"{result['built_to_succeed']} built to succeed, states {result['states']}"
    elif name == "linearizable" and not detail:
        detail = f"model {result.get('model')}, {result.get('ops')} ops, {result.get('keys')} keys"
    return f"  {name}: {mark} {detail}"


def report(result: dict[str, Any], run_dir: Path, as_json: bool) -> int:
    (run_dir / CHECKS_FILE).write_text(json.dumps(result, indent=1, default=str) + "\n")
    if as_json:
        print(json.dumps(result, default=str))
    else:
        for note in result.get("notes", []):
            out.print(f"[yellow]warning:[/] {note}", highlight=False)
        for name, checked in result["checkers"].items():
            out.print(_summary(name, checked), highlight=False, soft_wrap=True)
        verdict = result["valid"]
        out.print(f"{run_dir}: {'valid' if verdict is True else 'INVALID' if verdict is False else 'unknown'} "
                  f"(details in {run_dir / CHECKS_FILE})", highlight=False)
    return exit_code(result["valid"])


def workload(
    workload_name: str = typer.Argument(..., metavar="NAME", help="register | execution-state | reference | workflow"),
    name: str = typer.Option("mistral-lab", "--name", "-n", help="Lab (compose project) name."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/<name>-<time>)."),
    time_limit: float = typer.Option(20.0, "--time-limit", help="Seconds of client operations."),
    concurrency: int = typer.Option(4, "--concurrency", help="Client threads (pinned round-robin to API nodes)."),
    rate: float = typer.Option(10.0, "--rate", help="Operations per second, all clients together (0: no limit)."),
    seed: int = typer.Option(0, "--seed", help="Generator seed."),
    params: list[str] = typer.Option([], "--param", help="Workload parameter key=value (repeatable)."),
    settle: Optional[float] = typer.Option(None, "--settle", help="Settle window in s (default: derived)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole verdict as JSON."),
) -> None:
    """Run a workload against a running lab, collect witness log and Mistral snapshot, and check the run."""
    from checker.run_checks import check_run
    from cluster.control import Cluster
    from history.run_dir import declare_no_faults
    from workloads import make_workload, parse_params
    from workloads.runner import RunOptions, run_workload

    chosen = make_workload(workload_name, parse_params(params))  # bad name/parameter: fail before any work
    if concurrency <= 0 or time_limit <= 0 or rate < 0:
        raise LabError("--concurrency and --time-limit must be > 0, --rate >= 0")
    cluster = Cluster(name)
    if not cluster.exists():
        raise LabError(f"no lab named {name!r} is running; start one with `mistral-lab up --name {name}`")
    run_dir = out_dir or Path("runs") / f"{workload_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.print(f"running {workload_name} on {name} for {time_limit:g} s -> {run_dir}", highlight=False)
    declare_no_faults(run_dir, f"workload-{workload_name}")  # this command never injects a fault
    record = run_workload(cluster, chosen, run_dir, RunOptions(time_limit=time_limit, concurrency=concurrency,
                                                               rate=rate or None, seed=seed, settle_s=settle))
    out.print(f"ops: {record.counts}; executions started: {len(record.executions)}; "
              f"unsettled: {len(record.unsettled)}", highlight=False)
    raise typer.Exit(report(check_run(run_dir, settle_s=settle), run_dir, as_json))


def check_run_command(
    run_dir: Path = typer.Argument(..., help="A run directory (run.json, history.jsonl, witness.jsonl, ...)."),
    checker: list[str] = typer.Option([], "--checker", help="Checker to run (repeatable; default: the workload's)."),
    settle: Optional[float] = typer.Option(None, "--settle", help="Settle window in s (default: the run's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole verdict as JSON."),
) -> None:
    """Check a run directory offline. Exit 0 valid, 1 invalid, 2 unknown, 3 bad input."""
    from checker.run_checks import check_run

    result = check_run(run_dir, checker or None, settle)
    raise typer.Exit(report(result, run_dir, as_json))


def register(app: typer.Typer) -> None:
    app.command("workload")(workload)
    app.command("check-run")(check_run_command)


__all__ = ["register", "report"]
