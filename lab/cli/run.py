"""CLI for the run pipeline: run, report, runs, bundle, soak (and `check RUN_DIR` via lab.cli.checker)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from cluster.errors import LabError
from lab.store import DEFAULT_STORE, list_runs, write_index
from history.run_dir import HISTORY_FILE, RESULTS_FILE, SPEC_FILE

out = Console()
err = Console(stderr=True)


def run(
    test: Optional[str] = typer.Argument(None, help="A built-in test name or SPEC.yaml (default: smoke)."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Seconds of load + faults."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for the workload and fault schedule."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="Run store directory."),
    keep: bool = typer.Option(False, "--keep", help="Leave the cluster running afterwards."),
    lab: Optional[str] = typer.Option(None, "--lab", help="Lab (compose project) name to create or reuse."),
    reuse: bool = typer.Option(False, "--reuse", help="Run on an already running lab named --lab."),
    replay: Optional[Path] = typer.Option(None, "--replay", help="Repeat a stored run: same spec, seed, faults."),
    strict: bool = typer.Option(False, "--strict", help="Fail on known (catalogued) defects too."),
    backend: Optional[str] = typer.Option(None, "--backend", help="compose or swarm (default: the spec's "
                                          "cluster.backend, else compose)."),
    mistral_version: Optional[str] = typer.Option(None, "--mistral-version", help="Mistral release from PyPI "
                                                  "(default: the spec's mistral_version, else the lab's default)."),
    mistral_src: Optional[Path] = typer.Option(None, "--mistral-src", help="A local Mistral tree to build and "
                                               "test instead of a release (a change under review)."),
) -> None:
    """Run a test: up, warm-up, load + nemesis, heal, settle, snapshot, logs, down, check, report.

    Exit 0 valid, 1 invalid, 2 unknown, 3 the lab itself failed. A run whose defects are all known findings
    (findings/) exits as if they were absent, unless --strict; any new defect exits 1."""
    from lab.run import run_test
    from lab.spec import apply_overrides, load_spec, spec_from_run, with_mistral_source

    if replay is not None and test is not None:
        raise LabError("give either a TEST or --replay RUN_DIR, not both")
    if mistral_version is not None and mistral_src is not None:
        raise LabError("give either --mistral-version or --mistral-src, not both")
    spec = spec_from_run(replay) if replay is not None else load_spec(test or "smoke")
    spec = apply_overrides(spec, time_limit=time_limit, seed=seed, backend=backend)
    spec.mistral_version = mistral_version or spec.mistral_version
    spec = with_mistral_source(spec, mistral_src)
    outcome = run_test(spec, store, lab_name=lab, keep=keep, reuse=reuse)
    print_outcome(spec.name, outcome, strict)
    raise typer.Exit(outcome.exit_for(strict))


def verdict_line(name: str, outcome, strict: bool = False) -> str:
    """One line: the verdict exit codes use, and how the catalogue changed it (NEW defects, known only)."""
    verdict = {True: "[green]VALID[/]", False: "[red]INVALID[/]"}.get(outcome.verdict(strict), "[yellow]UNKNOWN[/]")
    notes = []
    if outcome.new:
        notes.append(f"[bold red]NEW[/]: {len(outcome.new)} new defect(s)")
    if outcome.known:
        notes.append(f"{len(outcome.known)} known finding(s)")
    if outcome.known and not outcome.new and outcome.valid is False:
        notes.append("raw verdict INVALID" + (", failed by --strict" if strict else "; --strict fails it"))
    if outcome.interrupted:
        notes.append("interrupted")
    detail = f" ({'; '.join(notes)})" if notes else ""
    return f"{name}: {verdict}{detail} — {outcome.run_dir / 'report.html'}"


def print_outcome(name: str, outcome, strict: bool = False) -> None:
    out.print(verdict_line(name, outcome, strict))
    for known in outcome.known:
        out.print(f"  known: {escape(known['id'])} {escape(known['title'])}", highlight=False)
    for new in outcome.new:
        out.print(f"  [bold red]NEW[/] defect {escape(str(new['class']))}/{escape(str(new['kind']))}: "
                  f"{escape(str(new['summary']))}", highlight=False)


def report(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Re-render a run's report.html and PNG plots from its files."""
    from lab.report import render_report

    _require_run_dir(run_dir)
    out.print(str(render_report(run_dir)))


def runs(store: Path = typer.Option(DEFAULT_STORE, "--store")) -> None:
    """List stored runs with their verdicts and write the store's index.html."""
    found = list_runs(store)
    for summary in found:
        out.print(f"{summary.started}  {summary.test:<18} {str(summary.valid):<8}"
                  f"{' interrupted' if summary.interrupted else ''}  {summary.path}", highlight=False)
    if not found:
        out.print(f"no runs in {store}")
    if store.is_dir():
        out.print(f"index: {write_index(store, found)}")


def bundle(run_dir: Path = typer.Argument(..., help="A run directory."),
           out_file: Optional[Path] = typer.Option(None, "--out", help="Where to write the tar.gz.")) -> None:
    """One tar.gz of a run for a bug report, with passwords and secrets scrubbed."""
    from lab.bundle import make_bundle

    out.print(str(make_bundle(run_dir, out_file)))


def soak(
    duration: str = typer.Option("8h", "--duration", help="How long to keep running tests (e.g. 90m, 8h)."),
    tests: str = typer.Option("kill-executors,pause-executors,partition-engines,broker-outage,db-outage,"
                              "message-loss,scale-churn,chaos", "--tests", help="Comma-separated tests to draw from."),
    seed: int = typer.Option(0, "--seed", help="Seeds the choice of tests and each run's seed."),
    store: Path = typer.Option(DEFAULT_STORE, "--store"),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Override each run's time limit."),
    strict: bool = typer.Option(False, "--strict", help="Count runs with only known (catalogued) defects as failed."),
    fresh: bool = typer.Option(False, "--fresh", help="A new cluster for every run instead of a reset warm lab."),
    mistral_version: Optional[str] = typer.Option(None, "--mistral-version", help="Every run on this Mistral "
                                                  "release instead of its spec's (the hunt on another release)."),
    mistral_src: Optional[Path] = typer.Option(None, "--mistral-src", help="Every run on this Mistral tree."),
) -> None:
    """Repeat randomized (seeded) tests until the duration ends; keep failing runs; exit 1 if any failed.

    A run whose defects are all known findings passes unless --strict, and is kept (compacted: no node logs);
    the summary lists the known findings and new defects of every run and the runs it kept."""
    from lab.soak import parse_duration, soak_loop

    failed = soak_loop(parse_duration(duration), [t.strip() for t in tests.split(",") if t.strip()], seed, store,
                       time_limit, strict=strict, fresh=fresh, mistral_version=mistral_version,
                       mistral_src=mistral_src)
    raise typer.Exit(1 if failed else 0)


def _require_run_dir(run_dir: Path) -> None:
    if not (run_dir / HISTORY_FILE).exists() and not (run_dir / RESULTS_FILE).exists():
        raise LabError(f"{run_dir} is not a run directory (no history.jsonl or results.json)")


def judge_run_dir_command(run_dir: Path, as_json: bool) -> int:
    """`mistral-lab check RUN_DIR`: re-run a stored run's checkers offline, rewrite results.json (the previous
    one is kept under judgements/). Exit as `run` does: 0 valid, 1 invalid, 2 unknown (an interrupted run is
    never VALID), 3 the run recorded a lab failure and found no defect."""
    from lab.judge import judge_run_dir
    from lab.run import RunOutcome
    from lab.spec import spec_from_run

    spec = spec_from_run(run_dir) if (run_dir / SPEC_FILE).exists() else None
    results = judge_run_dir(run_dir, spec.checkers if spec else None)
    if as_json:
        print(json.dumps(results, default=str))
    else:
        for name, result in results.get("checkers", {}).items():
            out.print(f"{name:<26} {str(result.get('valid')):<8} {result.get('summary', '')}", highlight=False)
        out.print(f"valid: {results['valid']}", highlight=False)
    for line in rejudge_lines(run_dir, results):  # stderr under --json: stdout stays one JSON object
        (err if as_json else out).print(line, highlight=False, markup=False, soft_wrap=True)
    outcome = RunOutcome(run_dir, results["valid"], bool(results.get("interrupted")), results.get("lab_error"))
    return outcome.exit_for(strict=True)  # the raw verdict, as `check` always reported


def rejudge_lines(run_dir: Path, results: dict) -> list[str]:
    """What the re-check carried over from the run, and where the judgement it replaced is kept."""
    lines = []
    if results.get("interrupted"):
        phase = results.get("interrupted_phase")
        lines.append(f"interrupted{f' in phase {phase}' if phase else ''}: the run cannot be VALID")
    if results.get("lab_error"):
        lines.append(f"lab failure recorded by the run: {results['lab_error']}")
    if results.get("rejudged_from"):
        lines.append(f"previous judgement kept in {run_dir / results['rejudged_from']}")
    return lines


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(report)
    app.command()(runs)
    app.command()(bundle)
    app.command()(soak)
