"""The operators integration test's work on a live lab (lab/tests/test_operators_integration.py): replay a
catalogued finding with the lab kept up, take what the completion checker calls stuck in that run, run
`inspect` and `recover --apply` against the lab's API, and count found / missed / false / recovered.

The comparison:
- found: an execution the checker calls stuck that inspect lists as a stuck execution;
- missed: one the checker calls stuck that inspect does not list and that is still not terminal (one that
  finished after the run's snapshot is `late`: the checker judged it before it moved, it was not stuck);
- false: an inspect item on an execution the checker calls healthy (neither stuck nor built to succeed and
  ended in ERROR), or one no client of the run started.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import requests
import typer
from typer.testing import CliRunner

import checker.completion as completion
from checker.anomalies import stuck_kind
from checker.stuck import Thresholds
from cluster.control import Cluster
from history.mistral import MISTRAL_DEFAULTS, TERMINAL_STATES
from history.run_dir import RunFiles
from history.witness import witness_runs
from lab.cli import operators as operators_cli
from lab.operators.api import Auth
from lab.operators.service import inspect

QUIET_AFTER_RECOVERY_S = 15.0  # longer than the spec's heartbeat window (10 s): a rerun would have started
app = typer.Typer()
operators_cli.register(app)


def thresholds_for(overrides: dict[str, dict[str, str]]) -> Thresholds:
    """inspect's thresholds matched to the lab's [action_heartbeat] settings (quiet: the heartbeat window)."""
    def setting(option: str) -> float:
        return float(overrides.get("action_heartbeat", {}).get(option, MISTRAL_DEFAULTS[("action_heartbeat", option)]))

    window = setting("check_interval") * setting("max_missed_heartbeats")
    return Thresholds(window, setting("first_heartbeat_timeout"), window)


def threshold_args(thresholds: Thresholds) -> list[str]:
    return ["--heartbeat-window", f"{thresholds.heartbeat_window_s:g}",
            "--first-heartbeat-timeout", f"{thresholds.first_heartbeat_timeout_s:g}",
            "--older-than", f"{thresholds.quiet_s:g}"]


@dataclass
class CheckerView:
    """What the run's checkers said about its executions, every one (results.json lists at most 50)."""

    stuck: dict[str, str]  # execution id -> the completion checker's kind
    errored: set[str]      # built to succeed, ended in ERROR (succeeded-despite-faults)
    started: set[str]
    stuck_count_reported: int
    verdict: Any


def checker_view(run_dir: Path) -> CheckerView:
    files = RunFiles.open(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    quiet = files.run.get("quiet_since_wall") if files.run.get("settle_finished") else None
    with mock.patch.object(completion, "MAX_LISTED", 10 ** 9):  # the same rule, with no cap on the listing
        report = completion.check_completion(files.started_ops(), files.snapshot, [], files.ops,
                                             float(files.run.get("settle_s") or 0.0), quiet)
    states = {e["id"]: e["state"] for e in files.snapshot["executions"]}
    expect_error = {str(op.key) for op in files.started_ops()
                    if isinstance(op.invoke_value, dict) and op.invoke_value.get("expect") == "ERROR"}
    started = {str(op.key) for op in files.started_ops() if completion.counts_as_started(op)}
    return CheckerView(stuck={s["id"]: stuck_kind(s) for s in report["stuck"]},
                       errored={i for i in started - expect_error if states.get(i) == "ERROR"},
                       started=started,
                       stuck_count_reported=int(results["checkers"]["completion"]["stuck_count"]),
                       verdict=results.get("valid"))


@dataclass
class Figures:
    """One try of one finding: the comparison, the recovery and the witness after it."""

    finding: str
    seed: int
    run_dir: str
    checker_stuck: int = 0
    checker_kinds: dict[str, int] = field(default_factory=dict)
    inspect_items: dict[str, int] = field(default_factory=dict)
    found: int = 0
    missed: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    kind_mismatches: list[str] = field(default_factory=list)
    recover_exit: int | None = None
    recover_outcomes: dict[str, int] = field(default_factory=dict)
    recovered: int = 0
    not_recovered: list[str] = field(default_factory=list)
    reruns_after_recovery: list[dict] = field(default_factory=list)
    listed_after_recovery: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.checker_kinds.items())) or "none"
        items = ", ".join(f"{k} {n}" for k, n in sorted(self.inspect_items.items())) or "none"
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(self.recover_outcomes.items())) or "no call"
        return (f"FIGURES {self.finding} seed {self.seed}: checker stuck {self.checker_stuck} ({kinds}); inspect "
                f"listed {items}; found {self.found} missed {len(self.missed)} false {len(self.false)} late "
                f"{len(self.late)}; recover exit {self.recover_exit} ({outcomes}); recovered "
                f"{self.recovered}/{self.checker_stuck - len(self.late)} terminal; witness runs of them after "
                f"recovery {len(self.reruns_after_recovery)}; stuck listed after recovery "
                f"{self.listed_after_recovery}; {self.run_dir}")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def compare(view: CheckerView, document: dict[str, Any], states_now: dict[str, str], figures: Figures) -> None:
    """found / missed / late / false / kind mismatches of one inspect document against the checker."""
    items = document["items"]
    figures.checker_stuck = len(view.stuck)
    figures.checker_kinds = _count(view.stuck.values())
    figures.inspect_items = _count(f"{i['class']}/{i['kind']}" for i in items)
    listed_stuck = {i["execution_id"]: i["kind"] for i in items if i["class"] == "stuck-execution"}
    for ex_id, kind in sorted(view.stuck.items()):
        if ex_id in listed_stuck:
            figures.found += 1
            if listed_stuck[ex_id] != kind:
                figures.kind_mismatches.append(f"{ex_id}: checker {kind}, inspect {listed_stuck[ex_id]}")
        elif states_now.get(ex_id) in TERMINAL_STATES:
            figures.late.append(ex_id)
        else:
            figures.missed.append(ex_id)
    flagged = set(view.stuck) | view.errored
    figures.false = sorted({f"{i['class']}/{i['kind']} {i['execution_id']}" for i in items
                            if i["execution_id"] not in flagged or i["execution_id"] not in view.started})


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def lab_inspect(url: str, thresholds: Thresholds) -> dict[str, Any]:
    document, _ = inspect(url, None, Auth(no_auth=True), thresholds)
    return document


def execution_states(url: str, ids: set[str]) -> dict[str, str]:
    """GET /v2/executions/<id> for each: the state now (the lab's API, auth disabled)."""
    return {ex_id: requests.get(f"{url}/v2/executions/{ex_id}", timeout=30).json().get("state") for ex_id in ids}


def witness_run_ids(cluster: Cluster, executions: set[str]) -> dict[str, dict[str, Any]]:
    """Every physical action run the witness saw for `executions`, by run id."""
    records = cluster.witness_records(timeout=30)
    return {r.run_id: {"run_id": r.run_id, "execution": r.workflow_execution_id, "action": r.action_execution_id,
                       "label": r.label, "idempotent": r.idempotent, "start_time": r.start_time}
            for r in witness_runs(records) if r.workflow_execution_id in executions}


def recover_apply(url: str, thresholds: Thresholds, record: Path) -> tuple[int, str, dict[str, Any]]:
    """`mistral-lab recover --apply --yes --record FILE` through the CLI: exit code, output, the record."""
    result = CliRunner().invoke(app, ["recover", "--url", url, "--no-auth", "--apply", "--yes", "--record",
                                      str(record), *threshold_args(thresholds)])
    written = json.loads(record.read_text()) if record.exists() else {}
    return result.exit_code, result.output, written


def exercise(cluster: Cluster, run_dir: Path, thresholds: Thresholds, figures: Figures) -> None:
    """inspect against the checker, then recover --apply and what became of the stuck executions."""
    url = sorted(cluster.api_urls().values())[0]
    view = checker_view(run_dir)
    assert len(view.stuck) == view.stuck_count_reported, "the uncapped completion rule disagrees with results.json"
    started = time.monotonic()
    document = lab_inspect(url, thresholds)
    figures.seconds["inspect"] = round(time.monotonic() - started, 2)
    compare(view, document, execution_states(url, set(view.stuck)), figures)
    (run_dir / "inspect-output.txt").write_text(CliRunner().invoke(  # the table an operator would read
        app, ["inspect", "--url", url, "--no-auth", *threshold_args(thresholds)]).output)
    stuck = set(view.stuck) - set(figures.late)
    before = witness_run_ids(cluster, stuck)
    started = time.monotonic()
    exit_code, output, record = recover_apply(url, thresholds, run_dir / "recover-record.json")
    figures.seconds["recover"] = round(time.monotonic() - started, 2)
    figures.recover_exit = exit_code
    figures.recover_outcomes = _count(c["outcome"] for c in record.get("calls", []))
    (run_dir / "recover-output.txt").write_text(output)
    time.sleep(QUIET_AFTER_RECOVERY_S)
    states = execution_states(url, stuck)
    figures.recovered = sum(1 for s in states.values() if s in TERMINAL_STATES)
    figures.not_recovered = sorted(e for e, s in states.items() if s not in TERMINAL_STATES)
    after = witness_run_ids(cluster, stuck)
    figures.reruns_after_recovery = [run for run_id, run in after.items() if run_id not in before]
    figures.listed_after_recovery = sum(1 for i in lab_inspect(url, thresholds)["items"]
                                        if i["class"] == "stuck-execution")


__all__ = ["CheckerView", "Figures", "checker_view", "compare", "exercise", "execution_states", "lab_inspect",
           "recover_apply", "threshold_args", "thresholds_for", "witness_run_ids"]
