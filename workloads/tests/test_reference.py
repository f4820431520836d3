"""Reference workflows: definitions parse, have the expected shape and reject bad parameters."""
from __future__ import annotations

import pytest
import yaml

from cluster.errors import LabError
from workloads.reference import REFERENCE_KINDS, reference_workflow

# (kind, n, x) -> (task executions, witness action runs) of a SUCCESS run.
EXPECTED = {
    ("sequence", 4, 2): (4, 4),
    ("parallel", 4, 2): (4, 4),
    ("par-sequences", 4, 3): (12, 12),
    ("join", 4, 2): (5, 5),
    ("seq-join", 4, 3): (13, 13),
    ("with-items", 4, 2): (1, 4),
    # start + seq N + par N + join_par + X*N + join_seqs + items + join_final
    ("complex", 4, 3): (1 + 4 + 4 + 1 + 12 + 1 + 1 + 1, 1 + 4 + 4 + 1 + 12 + 1 + 4 + 1),
}


@pytest.mark.parametrize("kind, n, x", list(EXPECTED))
def test_definition_parses_with_expected_counts(kind: str, n: int, x: int) -> None:
    workflow = reference_workflow(kind, n, x, seconds=0.25)
    document = yaml.safe_load(workflow.definition)
    assert document["version"] == "2.0"
    body = document[workflow.name]
    tasks = body["tasks"]
    assert (workflow.expected_tasks, workflow.expected_actions) == EXPECTED[(kind, n, x)]
    assert len(tasks) == workflow.expected_tasks
    assert body["input"] == [{"seconds": 0.25}]
    for name, task in tasks.items():
        assert task["action"] == "lab.witness"
        assert task["input"]["label"] == name
        for target in task.get("on-success", []):
            assert target in tasks, f"{name} -> unknown task {target}"


def test_every_kind_is_covered() -> None:
    assert {kind for kind, _, _ in EXPECTED} == set(REFERENCE_KINDS)


def test_join_tasks_wait_for_all_inbound() -> None:
    tasks = yaml.safe_load(reference_workflow("seq-join", 2, 2).definition)
    body = next(v for k, v in tasks.items() if k != "version")["tasks"]
    assert body["joined"]["join"] == "all"
    assert sorted(k for k, t in body.items() if "joined" in t.get("on-success", [])) == ["seq1_2", "seq2_2"]


def test_names_differ_by_parameters() -> None:
    names = {reference_workflow("sequence", n, x, s).name for n in (1, 2) for x in (1, 2) for s in (0, 0.5)}
    assert len(names) == 8
    assert reference_workflow("sequence", 2, idempotent=True).name.endswith("_idem")


@pytest.mark.parametrize("args, message", [
    (("nope", 3), "unknown reference workflow kind 'nope'"),
    (("sequence", 0), "n must be an integer between 1"),
    (("sequence", 3, 0), "x must be an integer between 1"),
    (("sequence", -1), "n must be"),
    (("sequence", 3, 2, -0.5), "seconds must be a number >= 0"),
])
def test_bad_parameters_raise_lab_error(args: tuple, message: str) -> None:
    with pytest.raises(LabError, match=message):
        reference_workflow(*args)
