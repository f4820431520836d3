"""A spec that lists faults plans one within its time limit, or it is refused at load: one line, exit 3."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.errors import LabError
from lab.run import build_parts, planned_schedule
from lab.spec import (apply_overrides, builtin_names, check_faults_fit, load_spec, nemesis_schedule,
                      spec_from_run, validate_spec)
from nemesis.schedule import inventory_of

ROOT = Path(__file__).resolve().parents[2]
SEEN = {"name": "broker-too-long", "workload": {"name": "reference"}, "time_limit_s": 50,
        "nemesis": {"faults": [{"fault": "broker", "options": {"mode": "stop"}}], "interval_s": 45, "duration_s": 35}}
ARITHMETIC = ("nemesis: no fault fits: the first slot starts at 22.5 s (interval 45 s / 2), a 35 s fault would "
              "end at 57.5 s, after the time limit of 50 s; lower duration_s or interval_s, or raise time_limit_s")


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text("\n".join(f"{key}: {json.dumps(value)}" for key, value in data.items()))  # nemesis: line 4
    return path


def test_the_spec_seen_without_faults_is_refused_at_load_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, SEEN)
    with pytest.raises(LabError) as caught:
        load_spec(str(path))
    assert str(caught.value) == f"{path}:4: {ARITHMETIC}"


def test_the_cli_refuses_it_with_one_line_and_exit_3_before_any_cluster(tmp_path: Path) -> None:
    path = _write(tmp_path, SEEN)
    no_engine = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # a cluster could not start
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(path), "--store", str(tmp_path / "store")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=no_engine)
    assert (proc.returncode, proc.stderr.strip()) == (3, f"error: {path}:4: {ARITHMETIC}")
    assert not (tmp_path / "store").exists()  # refused before a run directory (or a lab) was made


def test_a_shorter_time_limit_flag_is_refused_and_named() -> None:
    spec = load_spec("broker-outage")  # interval 30 s, 10 s faults: the first ends by 31 s at the latest
    assert apply_overrides(spec, time_limit=31).time_limit_s == 31
    with pytest.raises(LabError, match=r"^--time-limit 30: nemesis: no fault fits: the first slot starts at 15 s"):
        apply_overrides(spec, time_limit=30)


def test_a_stored_run_without_room_still_loads_for_an_offline_check_but_not_for_a_replay(tmp_path: Path) -> None:
    (tmp_path / "test.yaml").write_text(json.dumps({**SEEN, "lab": "x", "planned_faults": []}))
    spec = spec_from_run(tmp_path)  # the run seen must stay checkable offline
    assert spec.nemesis["duration_s"] == 35
    with pytest.raises(LabError, match="^nemesis: no fault fits"):
        apply_overrides(spec)  # --replay goes through the overrides


@pytest.mark.parametrize("nemesis, message", [
    ({"faults": ["kill"], "interval_s": "45"}, "interval_s must be a number of seconds > 0"),
    ({"faults": ["kill"], "duration_s": 0}, "duration_s must be a number of seconds > 0"),
    ({"faults": [{"target": "api-1"}]}, "faults: chaos, or a list of fault names"),
    ({"faults": {"kill": 1}}, "faults: chaos, or a list of fault names"),
])
def test_bad_nemesis_timing_or_fault_list_is_a_field_error(nemesis: dict, message: str) -> None:
    with pytest.raises(LabError, match=f"field 'nemesis': {message}"):
        validate_spec({"name": "t", "nemesis": nemesis})


def test_a_spec_without_faults_needs_no_room() -> None:
    for nemesis in ({}, {"faults": []}, {"schedule": []}):
        spec = validate_spec({"name": "t", "time_limit_s": 1, "nemesis": nemesis})
        assert nemesis_schedule(spec) is None
        check_faults_fit(spec)


def test_the_spec_schedule_is_the_one_a_run_builds() -> None:
    """nemesis_schedule and lab.run.build_parts share the defaults (interval 20 s, 8 s faults)."""
    specs = [load_spec(name) for name in builtin_names()]
    specs.append(validate_spec({"name": "defaults", "nemesis": {"faults": ["kill"]}}))
    for spec in specs:
        ours, theirs = nemesis_schedule(spec, inventory_of(spec.topology("x"))), build_parts(spec, "x")[1]
        assert planned_schedule(ours, spec.time_limit_s) == planned_schedule(theirs, spec.time_limit_s), spec.name
