"""The spec of a map cell: valid, one rpc fault with the cell's options on the role that sends or receives the
method, early enough to meet it and within the time limit, a seed from the base seed and the cell; a method the
lab cannot make Mistral send says why instead."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from lab.map.cell_spec import (CANNOT, DELAY_MS, PLANS, Exercise, cannot_exercise, cell_seed, cell_spec,
                               spec_data)
from lab.map.cells import Cell, all_cells
from lab.run import build_parts, planned_schedule
from lab.spec import dump_spec, validate_spec
from nemesis.rpc import METHODS, default_role

RUNNABLE = [c for c in all_cells() if cannot_exercise(c) is None]
DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-map.md"


def test_every_rpc_method_has_a_workload_or_the_reason_it_cannot_be_exercised() -> None:
    assert set(PLANS) == set(METHODS)
    for method, plan in PLANS.items():
        assert isinstance(plan, Exercise) or (isinstance(plan, str) and len(plan) > 20), method
    assert {c.method for c in RUNNABLE} == {m for m, p in PLANS.items() if isinstance(p, Exercise)}
    assert cannot_exercise(Cell("rollback_workflow", "send", "drop")) == PLANS["rollback_workflow"]


@pytest.mark.parametrize("cell", RUNNABLE, ids=lambda c: c.key)
def test_a_cell_s_spec_validates_and_plans_exactly_one_rpc_fault_with_its_options(cell: Cell) -> None:
    spec = cell_spec(cell, cell_seed(1, cell))
    workload, schedule = build_parts(spec, "lab-x")  # what run_test builds before anything starts
    assert workload.name == PLANS[cell.method].workload
    (step,) = planned_schedule(schedule, spec.time_limit_s)
    assert step["fault"] == "rpc" and step["target"] == f"random:{default_role(cell.method, cell.side)}"
    expected = {"method": cell.method, "side": cell.side, "action": cell.action, "count": 1}
    assert step["options"] == ({**expected, "delay_ms": DELAY_MS} if cell.action == "delay" else expected)
    assert step["at_s"] + step["duration_s"] <= spec.time_limit_s
    assert step["at_s"] <= 5.0  # the rule is in force while the load's first messages flow
    spec.topology(f"run-{spec.name}"[:30].rstrip("-_")).validate()  # the lab name `--fresh` gives run_test


@pytest.mark.parametrize("cell", RUNNABLE[::7], ids=lambda c: c.key)
def test_the_spec_a_run_stores_replays_the_same_cell(cell: Cell) -> None:
    spec = cell_spec(cell, 42)
    stored = yaml.safe_load(dump_spec(spec, {}))  # test.yaml, read back as `run --replay` does
    again = validate_spec(stored)
    assert again.seed == 42 and again.nemesis == spec.nemesis and again.workload == spec.workload
    assert again.name == f"map-{cell.method}-{cell.side}-{cell.action}"


def test_the_seed_comes_from_the_base_seed_the_cell_and_the_attempt() -> None:
    cell = Cell("run_action", "receive", "drop")
    assert cell_seed(1, cell) == cell_seed(1, Cell("run_action", "receive", "drop"))  # stable
    assert cell_seed(1, cell, attempt=3) == cell_seed(1, cell) + 2
    assert cell_seed(5, cell) == cell_seed(1, cell) + 4
    seeds = {cell_seed(1, c) for c in all_cells()}
    assert len(seeds) == len(all_cells())  # no two cells share a seed
    spec = cell_spec(cell, cell_seed(7, cell))
    assert spec.seed == cell_seed(7, cell) == spec.nemesis["schedule"][0]["seed"]


def test_the_workloads_are_sure_to_send_their_method() -> None:
    stop = spec_data(Cell("stop_workflow", "receive", "drop"), 1)["workload"]
    assert stop["name"] == "execution-state" and stop["params"]["cancel_share"] == 1.0  # every control op cancels
    pause = spec_data(Cell("pause_workflow", "send", "drop"), 1)["workload"]["params"]
    assert pause["cancel_share"] == 0.0 and pause["control_ratio"] > 0
    notify = spec_data(Cell("notify", "receive", "drop"), 1)
    assert notify["cluster"]["notifiers"] == 1 and notify["mistral_config"]["notifier.notify"]
    assert default_role("notify", "receive") == "notifier"
    heartbeat = spec_data(Cell("run_action", "receive", "drop"), 1)["mistral_config"]
    assert heartbeat["action_heartbeat.first_heartbeat_timeout"] == 30  # as the rpc-* specs


def test_a_cell_the_lab_cannot_exercise_has_no_spec() -> None:
    with pytest.raises(ValueError, match=f"start_action/receive/drop: {CANNOT}: .*POST /v2/action_executions"):
        spec_data(Cell("start_action", "receive", "drop"), 1)


def test_a_version_or_a_source_tree_reaches_the_cell_s_cluster(tmp_path: Path) -> None:
    cell = Cell("start_task", "send", "crash-after")
    assert cell_spec(cell, 1, mistral_version="22.0.0").topology("x").mistral_version == "22.0.0"
    patched = cell_spec(cell, 1, mistral_src=tmp_path)
    assert patched.topology("x").mistral_src == str(tmp_path)
    assert "mistral_src" not in patched.to_dict()  # test.yaml stays a plain spec


def _doc_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", DOC.read_text(), re.MULTILINE)
    return {method: how.strip() for method, how in rows}


def test_docs_protocol_map_lists_the_same_workload_per_method_as_the_code() -> None:
    rows = _doc_rows()
    assert set(rows) == set(METHODS)
    for method, plan in PLANS.items():
        assert rows[method] == (f"`{plan.workload}`" if isinstance(plan, Exercise) else CANNOT), method


def test_docs_protocol_map_counts_the_cells_the_code_makes() -> None:
    text = " ".join(DOC.read_text().split())
    assert f"That leaves {len(all_cells())} cells, {len(RUNNABLE)} of them runnable" in text
