"""Each form of the v2 DSL the workflow workload takes, from its example spec (lab/specs/workflows/), runs to a
verdict on a 2/1/2 lab of this module (the examples' topology): a fault-free short run (the examples' own faults
are what `make workflow-examples` adds), judged VALID by the workload's own checkers, every execution started
through every API node.

Not on the session's shared cluster: in CI that lab was made before the swarm tests, and after them its
containers' names no longer resolved (Docker's embedded DNS answered NXDOMAIN for every peer, 2026-12-07), so
every lab.witness call hung. A lab made here does not depend on what ran before it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SHARED_OVERRIDES, unique_lab_name
from checker.run_checks import check_run
from history.run_dir import RunFiles, declare_no_faults
from lab.spec import load_spec
from workloads import make_workload
from workloads.runner import RunOptions, run_workload

pytestmark = pytest.mark.docker
EXAMPLES = Path(__file__).resolve().parents[1] / "specs" / "workflows"
FORMS = sorted(path.name for path in EXAMPLES.glob("*.spec.yaml"))


def test_every_example_form_is_here() -> None:
    assert FORMS == ["direct.spec.yaml", "expect-error.spec.yaml", "reverse.spec.yaml", "several.spec.yaml",
                     "workbook.spec.yaml"]


@pytest.fixture(scope="module")
def forms_lab(docker_ready):
    from cluster.control import Cluster
    from cluster.topology import Topology, parse_overrides

    name = unique_lab_name("forms")
    cluster = Cluster(name)
    cluster.up(Topology(name=name, apis=2, engines=1, executors=2, overrides=parse_overrides(SHARED_OVERRIDES)),
               report=lambda m: print(f"[{name}] {m}", flush=True))
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.mark.parametrize("form", FORMS)
def test_each_form_runs_to_a_valid_verdict(forms_lab, tmp_path: Path, form: str) -> None:
    spec = load_spec(str(EXAMPLES / form))
    params = {**spec.workload["params"], "max_starts": 6}
    workload = make_workload(spec.workload["name"], params)
    declare_no_faults(tmp_path, f"workflow-{form}")
    record = run_workload(forms_lab, workload, tmp_path,
                          RunOptions(time_limit=6.0, concurrency=2, rate=2.0, seed=spec.seed))
    assert not record.unsettled
    result = check_run(tmp_path)
    assert result["valid"] is True, json.dumps(result, indent=1, default=str)[:4000]
    assert set(result["checkers"]) == set(workload.checkers)
    ops = RunFiles.open(tmp_path).ops
    assert {op.node for op in ops} == set(forms_lab.api_urls())  # every API node served starts
    assert sum(1 for op in ops if op.status == "ok") >= 2  # exercised: executions did start and end
