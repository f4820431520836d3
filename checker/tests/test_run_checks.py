"""check_run on run directories: overall verdicts, perf figures and bad input (one clear line, exit 3)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker.perf import quantiles
from checker.run_checks import check_run, overall
from checker.tests.runfixtures import action, execution, snapshot, task, witness, write_run
from cluster.errors import LabError


def _clean(run_dir: Path) -> Path:
    return write_run(run_dir, starts=[("wf-1", "ok", "api-1")], records=witness("r1", "A1", "T1", wf="wf-1"),
                     snap=snapshot([execution("wf-1")], [task("T1")], [action("A1", "T1")]))


def test_clean_run_is_valid_on_every_checker(tmp_path: Path) -> None:
    result = check_run(_clean(tmp_path))
    assert result["valid"] is True
    assert set(result["checkers"]) == {"completion", "succeeded-despite-faults", "exactly-once", "perf"}
    perf = result["checkers"]["perf"]
    assert perf["ops"]["start"]["count"] == 1 and perf["ops"]["start"]["ok"] == 1
    assert perf["processing"]["task_s"] == {"count": 1, "p50": 2.0, "p90": 2.0, "p99": 2.0, "max": 2.0}
    assert perf["processing"]["action_run_s"]["count"] == 1


def test_overall_verdict() -> None:
    assert overall([True, True]) is True
    assert overall([True, "unknown"]) == "unknown"
    assert overall(["unknown", False, True]) is False


def test_quantiles_are_measured_values() -> None:
    assert quantiles([]) == {}
    assert quantiles([float(v) for v in range(1, 101)]) == {"p50": 51.0, "p90": 91.0, "p99": 100.0, "max": 100.0}


@pytest.mark.parametrize("missing", ["history.jsonl", "witness.jsonl", "mistral-snapshot.json", "run.json"])
def test_missing_file_is_named(tmp_path: Path, missing: str) -> None:
    run = _clean(tmp_path)
    (run / missing).unlink()
    with pytest.raises(LabError, match=rf"{missing}: missing"):
        check_run(run)


def test_torn_last_witness_line_is_a_warning(tmp_path: Path) -> None:
    run = _clean(tmp_path)
    with open(run / "witness.jsonl", "a") as log:
        log.write('{"run_id": "r2", "phase": "sta')
    result = check_run(run)
    assert result["valid"] is True
    assert result["notes"] == [f"{run / 'witness.jsonl'}:3: torn last line skipped (the witness stopped mid-line)"]


def test_malformed_middle_witness_line_names_file_and_line(tmp_path: Path) -> None:
    run = _clean(tmp_path)
    lines = (run / "witness.jsonl").read_text().splitlines()
    (run / "witness.jsonl").write_text(lines[0] + "\n{not json\n" + lines[1] + "\n")
    with pytest.raises(LabError, match=r"witness.jsonl:2: malformed witness record"):
        check_run(run)


def test_malformed_history_names_file_and_line(tmp_path: Path) -> None:
    run = _clean(tmp_path)
    (run / "history.jsonl").write_text('{"index": 0}\n')
    with pytest.raises(LabError, match=r"history.jsonl:1: missing field 'time'"):
        check_run(run)


def test_unknown_checker(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"unknown checker 'speed' \(known: linearizable, exactly-once"):
        check_run(_clean(tmp_path), ["speed"])


def test_linearizable_through_run_dir(tmp_path: Path) -> None:
    run = write_run(tmp_path, starts=[("wf-1", "ok", "api-1")], checkers=["linearizable"], model="execution-state")
    result = check_run(run)
    assert result["checkers"]["linearizable"]["valid"] is True
    assert result["checkers"]["linearizable"]["model"] == "execution-state"


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real entry point: exit codes and the one-line error are what a user sees."""
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=60)


def test_cli_check_run_exit_codes(tmp_path: Path) -> None:
    run = _clean(tmp_path / "good")
    result = _cli("check-run", str(run))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and (run / "checks.json").exists()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    (run / "witness.jsonl").unlink()
    result = _cli("check-run", str(run))
    assert result.returncode == 3 and result.stderr.count("\n") == 1 and "witness.jsonl: missing" in result.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == {k: v for k, v in before.items() if k != "witness.jsonl"}
    bad = write_run(tmp_path / "bad", starts=[("wf-1", "ok", "api-1")],
                    snap=snapshot([execution("wf-1", "ERROR")], [], []))
    assert _cli("check-run", str(bad)).returncode == 1
    assert json.loads((bad / "checks.json").read_text())["valid"] is False


def test_cli_unknown_workload_is_one_line(tmp_path: Path) -> None:
    result = _cli("workload", "nope", "--name", "no-such-lab")
    assert result.returncode == 3
    assert result.stderr == "error: unknown workload 'nope' (known: cron, execution-state, reference, register, workflow)\n"
    result = _cli("workload", "register", "--param", "bogus=1")
    assert result.returncode == 3 and "unknown parameter 'bogus'" in result.stderr
