"""Judge a run directory: the checkers' verdict, what the run pipeline recorded, and the catalogue of known
findings, written to results.json. Used by `mistral-lab run` after a run and by `mistral-lab check RUN_DIR`.

What only the pipeline knows - interrupted and in which phase, a lab failure, the nemesis's errors - is read
from run.json on every judgement: an interrupted run never re-judges VALID. A re-judgement keeps the one it
replaces under judgements/ (results.json `rejudged_from`).
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from cluster.errors import LabError
from history.run_dir import RUN_FILE
from lab.store import keep_previous_judgement, read_object, recorded_outcome, update_run_file, write_results

console = Console(stderr=True)
NOTHING_TO_CHECK = "the run stopped before the workload started: nothing to check"


def judge_run_dir(run_dir: Path, spec_checkers: list[str] | None = None, interrupted: bool = False,
                  lab_error: str | None = None, extra: dict | None = None) -> dict:
    """Judge a run directory: its checkers' verdict, what the pipeline recorded and the catalogue, written to
    results.json; used by `run` and offline by `mistral-lab check RUN_DIR`. What the pipeline recorded
    (recorded_outcome) applies on every judgement, on top of the arguments; an earlier results.json is kept
    under judgements/ first, and the new one names it in `rejudged_from`."""
    from lab.findings.catalogue import apply_catalogue

    recorded = recorded_outcome(run_dir)
    errors = recorded["nemesis_errors"]
    extra = {**({"nemesis_errors": errors} if errors else {}), **(extra or {})}
    previous = keep_previous_judgement(run_dir)
    results = _checkers_verdict(run_dir, spec_checkers)
    _apply_interruption(results, interrupted or bool(recorded["interrupted"]), recorded["interrupted_phase"])
    _apply_load_abort(results, read_object(run_dir / RUN_FILE, {}).get("load_aborted"))
    if lab_error or recorded["lab_error"]:
        results["lab_error"] = lab_error or recorded["lab_error"]
        if recorded["lab_error_phase"]:
            results["lab_error_phase"] = recorded["lab_error_phase"]
    results.update(extra)
    if previous is not None:
        results["rejudged_from"] = previous.as_posix()
    results.update(apply_catalogue(results))  # known vs new defects; `valid` stays the raw verdict
    return write_results(run_dir, results)


def _checkers_verdict(run_dir: Path, spec_checkers: list[str] | None) -> dict:
    """The checkers' verdict; "unknown" with the reason when they cannot run or crash."""
    from checker.run_checks import check_run

    if "workload" not in read_object(run_dir / RUN_FILE, {"workload": None}):  # only the pipeline's fields
        return {"valid": "unknown", "checkers": {}, "note": NOTHING_TO_CHECK}
    try:
        return check_run(run_dir, spec_checkers or None)
    except LabError as exc:
        return {"valid": "unknown", "checkers": {}, "reasons": [f"UNKNOWN: checkers could not run: {exc}"],
                "notes": [f"checkers could not run: {exc}"]}
    except Exception as exc:  # noqa: BLE001 - a crash in the checking layer still leaves a results.json
        error = f"{exc.__class__.__name__}: {exc}"
        return {"valid": "unknown", "checkers": {}, "reasons": [f"UNKNOWN: the checkers crashed: {error}"],
                "notes": [f"the checkers crashed: {error}"]}


def _apply_interruption(results: dict, interrupted: bool, phase: str | None) -> None:
    """A defect found before the interruption stands; a pass cannot."""
    if not interrupted:
        return
    results["interrupted"] = True
    if phase:
        results["interrupted_phase"] = phase
    where = f" in phase {phase}" if phase else ""
    note = f"interrupted by the user{where}: the history up to the interruption was checked"
    results["note"] = "; ".join(n for n in (results.get("note"), note) if n)
    if results["valid"] is True:
        results["valid"] = "unknown"
        results.setdefault("reasons", []).append(f"UNKNOWN: the run was interrupted{where} before it finished")


def _apply_load_abort(results: dict, reason: str | None) -> None:
    """A load phase Mistral cut short by refusing every start (workloads.refusals) tested too little to pass; a
    defect found before it stands."""
    if not reason:
        return
    results["load_aborted"] = reason
    if results["valid"] is True:
        results["valid"] = "unknown"
    # First: it is why the rest (no progress, unsettled executions...) came out as it did.
    results["reasons"] = [f"UNKNOWN: the load phase stopped early: {reason}", *(results.get("reasons") or [])]


def record_outcome(run_dir: Path, interrupted: bool, lab_error: str | None, phase: str | None,
                   nemesis_errors: list[str]) -> None:
    """Into run.json (created if the workload never wrote it), before the run is judged."""
    fields = {"interrupted": interrupted, "interrupted_phase": phase if interrupted else None,
              "lab_error": lab_error, "lab_error_phase": phase if lab_error else None,
              "nemesis_errors": list(nemesis_errors)}
    try:
        update_run_file(run_dir, fields)
    except OSError as exc:  # the judgement below still gets them as arguments
        console.print(f"[red]could not record the run's outcome in run.json:[/] {exc}")
