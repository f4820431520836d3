"""The gate's files checked without its tools: `make gate-test`'s driver (tools/gate/local_zuul.py) gives the
playbooks what Zuul gives them and judges a store as `make lab-test` leaves it; every spec and finding the jobs
name exists; every tox environment calls a make target that exists."""
from __future__ import annotations

import configparser
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _driver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_zuul", ROOT / "tools" / "gate" / "local_zuul.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


driver = _driver()


def _lab_test_run(store: Path, valid: object = True) -> Path:
    run_dir = store / "lab-test" / "20261207T100000"
    run_dir.mkdir(parents=True)
    for name in driver.RUN_FILES:
        if name == "logs":
            (run_dir / name).mkdir()
        else:
            (run_dir / name).write_text("{}")
    (run_dir / "results.json").write_text(json.dumps({"valid": valid}))
    (store / "latest").symlink_to(run_dir.relative_to(store))
    (store / "index.html").write_text("<html></html>")
    return run_dir


def test_the_zuul_variable_points_the_playbooks_at_both_checkouts_and_the_log_root(tmp_path: Path) -> None:
    found = driver.zuul_vars(ROOT, tmp_path / "mistral", tmp_path / "gate", tmp_path / "store",
                             {"mistral_lab_findings_tries": 2})
    projects = found["zuul"]["projects"]
    assert projects[found["mistral_lab_project"]]["src_dir"] == str(ROOT)
    assert projects[found["mistral_lab_mistral_project"]]["src_dir"] == str(tmp_path / "mistral")
    assert found["zuul"]["executor"]["log_root"] == str(tmp_path / "gate" / "job" / "work" / "logs")
    assert found["mistral_lab_store"] == str(tmp_path / "store")
    assert found["mistral_lab_findings_tries"] == 2 and found["mistral_lab_steps"] == ["tests", "findings", "map"]
    # path_join (os.path.join) keeps an absolute src_dir as it is, whatever the node user's home is
    assert Path("/home/zuul", projects[found["mistral_lab_project"]]["src_dir"]) == ROOT


def test_a_complete_valid_lab_test_run_is_the_store_make_lab_test_leaves(tmp_path: Path) -> None:
    _lab_test_run(tmp_path)
    assert driver.check_store(tmp_path) == []


def test_a_run_that_is_not_valid_or_misses_a_file_fails_the_check(tmp_path: Path) -> None:
    run_dir = _lab_test_run(tmp_path, valid="unknown")
    (run_dir / "witness.jsonl").unlink()
    assert driver.check_store(tmp_path) == [f"{run_dir}: no witness.jsonl", f"{run_dir}: valid is 'unknown', not True"]
    assert driver.check_store(tmp_path / "empty") == [f"no lab-test run in {tmp_path / 'empty'}"]


def test_job_variables_on_the_command_line_are_json_or_strings() -> None:
    assert driver.extra_vars(['mistral_lab_steps=["tests"]', "mistral_lab_map_methods=start_task"]) == {
        "mistral_lab_steps": ["tests"], "mistral_lab_map_methods": "start_task"}
    with pytest.raises(SystemExit):
        driver.extra_vars(["no-equals-sign"])


def _job_vars() -> list[dict[str, Any]]:
    config = yaml.safe_load((ROOT / ".zuul.yaml").read_text())
    defaults = yaml.safe_load((ROOT / "roles" / "mistral_lab" / "defaults" / "main.yaml").read_text())
    return [item["job"]["vars"] for item in config if "job" in item] + [defaults, driver.LOCAL_VARS]


def test_every_spec_and_finding_the_jobs_name_exists() -> None:
    for variables in _job_vars():
        for test in [*variables.get("mistral_lab_tests", []), *variables.get("mistral_lab_hunt_tests", [])]:
            assert (ROOT / "lab" / "specs" / f"{test}.yaml").is_file(), test
        for finding in variables.get("mistral_lab_findings", []):
            assert (ROOT / "findings" / f"{finding}.yaml").is_file(), finding


def test_the_hunt_runs_the_specs_make_hunt_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    hunt = " ".join(re.findall(r"^HUNT_TESTS \+?\?*=\s*(.*)$", makefile, re.MULTILINE)).replace(",", " ").split()
    for variables in _job_vars():
        if "mistral_lab_hunt_tests" in variables:
            assert variables["mistral_lab_hunt_tests"] == hunt


def test_every_tox_environment_calls_a_make_target_that_exists() -> None:
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    commands = {section.removeprefix("testenv:"): tox[section]["commands"].split()
                for section in tox.sections() if section.startswith("testenv:")}
    assert commands["py3"] == ["make", "test-unit"] and commands["lab-test"] == ["make", "lab-test"]
    for env, command in commands.items():
        assert command[0] == "make" and command[1] in targets, env
