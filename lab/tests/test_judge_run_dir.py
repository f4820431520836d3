"""`mistral-lab check RUN_DIR` on stored runs (issue 22, case A): what the run pipeline knew - interrupted, in
which phase, a lab failure, the nemesis's errors - survives a re-check, and the judgement a re-check replaces
is kept. Each test writes a run directory as the lab writes it: history.jsonl through the history writer,
run.json through the workload runner's RunRecord (plus, for runs of this version, the pipeline's fields),
test.yaml through the spec dumper, results.json as the first judgement left it."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from history.writer import HistoryWriter
from lab.cli import checker as checker_cli
from lab.judge import judge_run_dir, record_outcome
from lab.run import finish_run
from lab.spec import dump_spec, load_spec
from workloads import make_workload
from workloads.runner import RunRecord

app = typer.Typer()
checker_cli.register(app)
app.command("noop", hidden=True)(lambda: None)  # keep "check" a named sub-command
START_WALL = 1_700_000_000.0


def _check(run_dir: Path, *args: str):
    return CliRunner().invoke(app, ["check", str(run_dir), *args])


def _history(run_dir: Path) -> None:
    """A few ok register ops, as the clients of a run that was then interrupted recorded them."""
    with HistoryWriter(run_dir / "history.jsonl") as writer:
        writer.append(0, "invoke", "write", 1, key="k0", node="api-1")
        writer.append(0, "ok", "write", 1, key="k0", node="api-1")
        writer.append(1, "invoke", "read", None, key="k0", node="api-2")
        writer.append(1, "ok", "read", 1, key="k0", node="api-2")
        writer.append(0, "invoke", "cas", [1, 2], key="k0", node="api-1")
        writer.append(0, "ok", "cas", [1, 2], key="k0", node="api-1")
        writer.append(1, "invoke", "read", None, key="k0", node="api-2")
        writer.append(1, "ok", "read", 2, key="k0", node="api-2")


def _run_dir(tmp_path: Path, pipeline: dict | None, first: dict | None) -> Path:
    """A stored run; `pipeline`: the fields this version's pipeline adds to run.json (None: an older lab's run),
    `first`: results.json from the first judgement (None: never judged)."""
    run_dir = tmp_path / "store" / "smoke" / "20260101T000000"
    (run_dir / "logs").mkdir(parents=True)
    for node in ("api-1", "api-2"):  # as _collect_logs keeps them: a quiet node's log
        (run_dir / "logs" / f"{node}.log").write_text(
            "2026-01-01 00:00:01.000 7 INFO mistral.api.app [-] Mistral API started\n")
    spec = load_spec("smoke")
    spec.workload = {"name": "register", "params": {"keys": 1}}
    (run_dir / "test.yaml").write_text(dump_spec(spec, {"lab": "run-smoke", "planned_faults": []}))
    _history(run_dir)
    workload = make_workload("register", {"keys": 1})
    record = RunRecord(run_id="r1", lab="run-smoke", workload=workload.describe(), out_dir=str(run_dir),
                       api_nodes=["api-1", "api-2"], concurrency=2, rate=10.0, seed=1, time_limit=30.0,
                       start_wall=START_WALL, main_end_wall=START_WALL + 30, quiet_since_wall=START_WALL + 30,
                       settle_s=60.0, settle_finished=True, counts={"ok": 4, "fail": 0, "info": 0})
    record.save(run_dir)
    if pipeline is not None:
        run = json.loads((run_dir / "run.json").read_text())
        (run_dir / "run.json").write_text(json.dumps({**run, **pipeline}, indent=1))
    if first is not None:
        (run_dir / "results.json").write_text(json.dumps(first, indent=1) + "\n")
    return run_dir


INTERRUPTED = {"interrupted": True, "interrupted_phase": "load", "lab_error": None, "lab_error_phase": None,
               "nemesis_errors": []}
FIRST_INTERRUPTED = {"valid": "unknown", "checkers": {"linearizable": {"valid": True}}, "interrupted": True,
                     "note": "interrupted by the user: the history up to the interruption was checked",
                     "reasons": ["UNKNOWN: the run was interrupted before it finished"]}


def test_the_same_run_judges_valid_when_it_was_not_interrupted(tmp_path: Path) -> None:
    """The control: only the interruption stands between these ops and VALID."""
    run_dir = _run_dir(tmp_path, {**INTERRUPTED, "interrupted": False, "interrupted_phase": None}, None)
    assert judge_run_dir(run_dir)["valid"] is True
    assert not (run_dir / "judgements").exists()


def test_rechecking_an_interrupted_run_keeps_it_unknown_and_keeps_the_first_judgement(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, INTERRUPTED, FIRST_INTERRUPTED)
    first = (run_dir / "results.json").read_bytes()
    result = _check(run_dir)
    assert result.exit_code == 2, result.output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown" and results["interrupted"] is True
    assert results["interrupted_phase"] == "load"
    kept = list((run_dir / "judgements").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == first
    assert results["rejudged_from"] == f"judgements/{kept[0].name}"
    assert f"previous judgement kept in {run_dir / 'judgements' / kept[0].name}" in result.output
    assert "interrupted in phase load: the run cannot be VALID" in result.output


def test_an_interrupted_run_stored_by_an_older_lab_stays_unknown(tmp_path: Path) -> None:
    """run.json without the pipeline's fields: the first judgement's `interrupted` stands in."""
    run_dir = _run_dir(tmp_path, None, FIRST_INTERRUPTED)
    result = _check(run_dir, "--json")
    assert result.exit_code == 2, result.output
    results = json.loads(result.stdout.splitlines()[0])
    assert results["valid"] == "unknown" and results["interrupted"] is True
    assert "previous judgement kept in" in result.stderr


def test_a_recorded_lab_failure_and_nemesis_errors_survive_a_recheck(tmp_path: Path) -> None:
    pipeline = {**INTERRUPTED, "interrupted": False, "interrupted_phase": None, "lab_error": "OSError: disk full",
                "lab_error_phase": "collect", "nemesis_errors": ["heal cluster: timeout"]}
    run_dir = _run_dir(tmp_path, pipeline, {"valid": True, "lab_error": "OSError: disk full"})
    result = _check(run_dir)
    assert result.exit_code == 3, result.output  # as `run` exits: the lab failed and no defect was found
    results = json.loads((run_dir / "results.json").read_text())
    assert results["lab_error"] == "OSError: disk full" and results["lab_error_phase"] == "collect"
    assert results["nemesis_errors"] == ["heal cluster: timeout"]


def test_every_recheck_keeps_the_judgement_it_replaces(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, INTERRUPTED, FIRST_INTERRUPTED)
    for _ in range(3):
        assert _check(run_dir).exit_code == 2
    kept = sorted((run_dir / "judgements").iterdir())  # the names sort in the order they were judged
    assert len(kept) == 3 and kept[0].read_text() == json.dumps(FIRST_INTERRUPTED, indent=1) + "\n"
    assert [json.loads(p.read_text()).get("rejudged_from") for p in kept] == \
        [None, f"judgements/{kept[0].name}", f"judgements/{kept[1].name}"]
    latest = json.loads((run_dir / "results.json").read_text())
    assert latest["rejudged_from"] not in {json.loads(p.read_text()).get("rejudged_from") for p in kept}


def test_the_pipeline_records_an_interruption_in_run_json_before_judging(tmp_path: Path) -> None:
    """What `run` does after Ctrl-C in the settle wait; a re-check then knows it from run.json alone."""
    run_dir = _run_dir(tmp_path, None, None)
    outcome = finish_run(run_dir, load_spec("smoke"), True, None, None, "settle")
    run = json.loads((run_dir / "run.json").read_text())
    assert run["interrupted"] is True and run["interrupted_phase"] == "settle" and run["workload"]
    assert outcome.valid == "unknown" and outcome.exit_code == 2
    (run_dir / "results.json").unlink()  # nothing left but run.json to say so
    assert _check(run_dir).exit_code == 2
    assert json.loads((run_dir / "results.json").read_text())["interrupted_phase"] == "settle"


def test_a_run_interrupted_before_its_workload_started_gets_a_run_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record_outcome(run_dir, True, None, "up", [])
    assert json.loads((run_dir / "run.json").read_text())["interrupted_phase"] == "up"
    results = judge_run_dir(run_dir)
    assert results["valid"] == "unknown" and results["interrupted"] is True
    assert "nothing to check" in results["note"]
    assert _check(run_dir).exit_code == 2
