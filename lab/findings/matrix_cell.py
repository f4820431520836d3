"""One cell of the release matrix: a finding replayed on one column (a Mistral release, maybe with a variant's
options) through the findings replay (lab.findings.replay.replay_finding), and the cell's status.

The status of a cell, from the existing replay rules (Replay.status, over the N tries asked, a try counting
only when conclusive: faults gate passed and a decided verdict):

    reproduces      all N conclusive and reproduced >= required, ceil(min_rate x N)   (Replay.status: reproduces)
    below min_rate  all N conclusive, 1 <= reproduced < required: seen, so never gone (Replay.status: below)
    gone            all N conclusive and none reproduced          (Replay.status(patched=True): gone)
    inconclusive    fewer than N conclusive at the cap of 2N attempts (Replay.status: inconclusive)
    cannot run      the column's bring-up refused the cell: no try ran, so nothing is judged, never gone

`cannot run` is decided by bring-up alone, and only for what the column itself causes (COLUMN_REFUSALS: a
release without an option the spec sets, an image or wheels that do not build, a release PyPI does not have):
the run function raised such a LabError before a run existed, or the cell's first attempt failed with one while
its cluster came up (run.json lab_error_phase "up"). Any other bring-up failure (a readiness timeout on a busy
machine) is an ordinary inconclusive try, and any other LabError raised before a run stops the matrix. The seed changes nothing
bring-up checks, so such a cell is not replaced by the next seed; a later attempt whose bring-up fails after
one got past it is an ordinary inconclusive try. A cell whose spec brings up the same cluster as a cell that
could not run is not brought up again in the same matrix run.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from cluster.errors import LabError
from history.run_dir import RUN_FILE, read_json_object
from lab.findings.catalogue import Finding
from lab.findings.columns import Column
from lab.findings.replay import (BELOW, GONE, INCONCLUSIVE, REPRODUCES, Replay, RunFn, Try, finding_spec,
                                 replay_finding)

CANNOT_RUN = "cannot run"
STATUSES = (REPRODUCES, BELOW, GONE, INCONCLUSIVE, CANNOT_RUN)
ANSWERED = frozenset({REPRODUCES, BELOW, GONE})  # a cell with a rate over all N tries asked
BRING_UP_PHASE = "up"  # lab.run's phase while the cluster comes up (state.enter("up")), in run.json
OnTry = Callable[[Finding, Try], None]


def cell_key(finding_id: str, column_label: str) -> str:
    return f"{finding_id}@{column_label}"


def cell_status(replay: Replay) -> tuple[str, str]:
    """The status and its rule with the figures (module docstring): Replay.status, and gone where it says
    below min_rate with no reproduction at all."""
    status = replay.status()
    if status == BELOW and replay.status(patched=True) == GONE:
        return GONE, replay.rule(patched=True)
    return status, replay.rule()


class CannotRun(Exception):
    """Bring-up refused the cell; `run` is the failed attempt (seed, run_dir, lab_error) when one was stored."""

    def __init__(self, reason: str, run: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.run = reason, run


def bring_up_error(outcome: Any) -> str | None:
    """The lab error of a run that failed while its cluster came up, else None."""
    error, run_dir = getattr(outcome, "lab_error", None), getattr(outcome, "run_dir", None)
    if not error or run_dir is None or not (Path(run_dir) / RUN_FILE).exists():
        return None
    try:
        phase = read_json_object(Path(run_dir) / RUN_FILE).get("lab_error_phase")
    except (LabError, OSError):
        return None  # an unreadable run.json says nothing about bring-up: the try is judged as usual
    return error if phase == BRING_UP_PHASE else None


# What only the column can cause, so a retry with the next seed changes nothing: an option the release lacks
# (cluster.mistral_options), a release the index does not have, wheels or an image that do not build. Anything
# else at bring-up (a readiness timeout, a busy machine) is an ordinary inconclusive try.
COLUMN_REFUSALS = (" has no option ", "unknown Mistral version", "fetching wheels for ", "building mistral-lab/")


def refuses_the_column(error: str) -> bool:
    return any(marker in error for marker in COLUMN_REFUSALS)


class CellRuns:
    """The run function of one cell: the real one, with bring-up failures turned into CannotRun (see the module
    docstring for which)."""

    def __init__(self, run_fn: RunFn) -> None:
        self.run_fn, self.attempts = run_fn, 0

    def __call__(self, spec: Any, store: Path) -> Any:
        self.attempts += 1
        try:
            outcome = self.run_fn(spec, store)
        except LabError as exc:
            if not refuses_the_column(str(exc)):
                raise  # not the release's doing (a lab of that name exists, ...): one line for the user, exit 3
            raise CannotRun(str(exc), {"seed": spec.seed, "run_dir": None, "lab_error": str(exc)}) from None
        error = bring_up_error(outcome)
        if error is not None and self.attempts == 1 and refuses_the_column(error):
            raise CannotRun(error, {"seed": spec.seed, "run_dir": str(outcome.run_dir), "lab_error": error,
                                    "report": report_of(outcome.run_dir)})
        return outcome


def report_of(run_dir: str | Path | None) -> str | None:
    """The run's report.html, absolute: versions.html links it relative to wherever the matrix is."""
    return str(Path(run_dir).resolve() / "report.html") if run_dir else None


def topology_key(spec: Any) -> str:
    """What bring-up depends on: the cluster the spec asks for (release, options, sizes, database), not its
    name, seed or workload."""
    topology = asdict(spec.topology("x"))
    topology.pop("name", None)
    return hashlib.sha256(json.dumps(topology, sort_keys=True, default=str).encode()).hexdigest()[:12]


def replay_entry(replay: Replay) -> dict[str, Any]:
    """The cell's figures: asked / conclusive / reproduced, the rate over the tries asked, every try's run."""
    status, rule = cell_status(replay)
    return {"status": status, "rule": rule, "reason": None, "asked": replay.asked,
            "conclusive": len(replay.counted), "reproduced": replay.reproduced, "required": replay.required,
            "min_rate": str(replay.finding.min_rate), "rate": round(replay.reproduced / replay.asked, 3),
            "attempts": len(replay.tries), "cap": replay.cap,
            "tries": [{**t.to_json(), "report": report_of(t.run_dir)} for t in replay.tries]}


def cannot_run_entry(finding: Finding, tries: int, reason: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": CANNOT_RUN, "rule": f"{CANNOT_RUN}: {reason}", "reason": reason, "asked": tries,
            "conclusive": 0, "reproduced": 0, "required": finding.required(tries),
            "min_rate": str(finding.min_rate), "rate": None, "attempts": len(runs), "cap": None, "tries": runs}


def run_cell(finding: Finding, column: Column, tries: int, store: Path, run_fn: RunFn,
             failed_bring_ups: dict[str, tuple[str, str]],
             on_try: OnTry | None = None) -> tuple[dict[str, Any], bool]:
    """(the cell's entry, interrupted). `failed_bring_ups` (topology key -> (the cell that could not run, why))
    is shared by the cells of one matrix run."""
    head = {"finding": finding.id, "column": column.label, "mistral_version": column.version,
            "mistral_config": dict(column.mistral_config)}
    started = time.monotonic()
    seconds = lambda: round(time.monotonic() - started, 1)  # noqa: E731
    topology = topology_key(finding_spec(finding, finding.seed, column.version, None, column.mistral_config))
    if topology in failed_bring_ups:
        where, why = failed_bring_ups[topology]
        reason = f"{why} (bring-up of the same cluster failed in cell {where}; not brought up again)"
        return {**head, **cannot_run_entry(finding, tries, reason, []), "seconds": 0.0}, False
    try:
        replay = replay_finding(finding, tries, CellRuns(run_fn), store, column.version, on_try=on_try,
                                mistral_config=column.mistral_config)
    except CannotRun as refused:
        failed_bring_ups[topology] = (cell_key(finding.id, column.label), refused.reason)
        runs = [refused.run] if refused.run else []
        return {**head, **cannot_run_entry(finding, tries, refused.reason, runs), "seconds": seconds()}, False
    interrupted = any(t.interrupted for t in replay.tries)
    return {**head, **replay_entry(replay), "seconds": seconds()}, interrupted


__all__ = ["ANSWERED", "BRING_UP_PHASE", "CANNOT_RUN", "COLUMN_REFUSALS", "CannotRun", "CellRuns", "STATUSES", "bring_up_error",
           "cannot_run_entry", "cell_key", "cell_status", "refuses_the_column", "replay_entry", "report_of", "run_cell",
           "topology_key"]
