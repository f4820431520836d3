"""A findings try's overhead from its run directory: wall time minus the time limit minus the settle it needed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from lab.bench.try_overhead import needed_settle_s, run_overhead_s


def _run_dir(tmp_path: Path, run: dict, lab_start: str, wall_s: float) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "test.yaml").write_text(yaml.safe_dump({"name": "t", "time_limit_s": 60, "lab_start": lab_start}))
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "results.json").write_text("{}")
    os.utime(run_dir / "test.yaml", (1000.0, 1000.0))
    os.utime(run_dir / "results.json", (1000.0 + wall_s, 1000.0 + wall_s))
    return run_dir


def test_the_overhead_is_the_wall_time_less_the_time_limit_and_the_settle_needed(tmp_path: Path) -> None:
    run = {"main_end_wall": 500.0, "settled_wall": 512.5, "settle_s": 120.0}
    assert run_overhead_s(_run_dir(tmp_path, run, "reset", 90.0)) == ("reset", 90.0 - 60.0 - 12.5)


def test_a_run_that_never_settled_needed_its_whole_window() -> None:
    assert needed_settle_s({"main_end_wall": 500.0, "settled_wall": None, "settle_s": 120.0}) == 120.0


def test_a_run_without_a_judgement_has_no_overhead(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, {}, "fresh", 10.0)
    (run_dir / "results.json").unlink()
    assert run_overhead_s(run_dir) is None


def test_an_interrupted_run_did_not_pay_for_a_whole_try(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, {"main_end_wall": 500.0, "settled_wall": 510.0}, "fresh", 30.0)
    (run_dir / "results.json").write_text('{"interrupted": true}')
    assert run_overhead_s(run_dir) is None
