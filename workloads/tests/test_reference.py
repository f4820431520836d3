"""Reference workflows: definitions parse, have the expected shape and reject bad parameters."""
from __future__ import annotations

import pytest
import yaml

from cluster.errors import LabError
from workloads.reference import ALL_KINDS, POLICY_KINDS, REFERENCE_KINDS, reference_workflow

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


# ---------------------------------------------------------------- optional policy kinds
# (kind, n, x) -> (task executions, witness action runs) of a SUCCESS run of the started workflow.
EXPECTED_POLICY = {
    ("retry", 3, 2): (3, 3),
    ("timeout", 3, 2): (3, 3),
    ("wait-before", 3, 2): (3, 3),
    ("wait-after", 3, 2): (3, 3),
    # before + x subworkflow tasks + after; the child's n tasks run under the child execution's own id
    ("subworkflow", 3, 2): (4, 2),
    ("multi-join", 3, 2): (3 + 2 + 1, 3 + 2 + 1),
}


def _workflows(kind: str, n: int = 3, x: int = 2, seconds: float = 0.25, **kwargs) -> tuple:
    workflow = reference_workflow(kind, n, x, seconds, **kwargs)
    document = yaml.safe_load(workflow.definition)
    assert document["version"] == "2.0"
    return workflow, {k: v for k, v in document.items() if k != "version"}


def test_policy_kinds_are_optional() -> None:
    assert set(POLICY_KINDS).isdisjoint(REFERENCE_KINDS)
    assert ALL_KINDS == REFERENCE_KINDS + POLICY_KINDS
    assert {kind for kind, _, _ in EXPECTED_POLICY} == set(POLICY_KINDS)


@pytest.mark.parametrize("kind, n, x", list(EXPECTED_POLICY))
def test_policy_definitions_parse_with_expected_counts(kind: str, n: int, x: int) -> None:
    workflow, workflows = _workflows(kind, n, x)
    assert (workflow.expected_tasks, workflow.expected_actions) == EXPECTED_POLICY[(kind, n, x)]
    assert list(workflows)[0] == workflow.name and workflow.name.startswith(f"lab_ref_{kind.replace('-', '_')}_")
    own = workflows[workflow.name]["tasks"]
    assert len(own) == workflow.expected_tasks
    assert sum(1 for t in own.values() if t.get("action") == "lab.witness") == workflow.expected_actions
    for body in workflows.values():
        assert body["type"] == "direct" and body["input"] == [{"seconds": 0.25}]
        for name, task in body["tasks"].items():
            if "action" in task:
                assert task["action"] == "lab.witness" and task["input"]["label"] == name
            for target in task.get("on-success", []):
                assert target in body["tasks"], f"{name} -> unknown task {target}"


@pytest.mark.parametrize("kind, key, value", [
    ("retry", "retry", {"count": 2, "delay": 1}),
    ("timeout", "timeout", 1 + 30),   # ceil(0.25 s) + margin: only a fault makes it fire
    ("wait-before", "wait-before", 1),
    ("wait-after", "wait-after", 1),
])
def test_every_task_of_a_policy_sequence_has_its_policy(kind: str, key: str, value: object) -> None:
    workflow, workflows = _workflows(kind)
    tasks = workflows[workflow.name]["tasks"]
    assert list(tasks) == ["t_1", "t_2", "t_3"]
    assert [t.get("on-success") for t in tasks.values()] == [["t_2"], ["t_3"], None]
    assert all(t[key] == value for t in tasks.values())
    assert all(set(t) == {"action", "input", "on-success", key} - ({"on-success"} if n == "t_3" else set())
               for n, t in tasks.items())


def test_timeout_grows_with_the_action_time() -> None:
    _, workflows = _workflows("timeout", seconds=12.5)
    assert {t["timeout"] for body in workflows.values() for t in body["tasks"].values()} == {13 + 30}


def test_subworkflow_parent_calls_its_child() -> None:
    workflow, workflows = _workflows("subworkflow", n=3, x=2, idempotent=True)
    child = f"{workflow.name}_child"
    assert list(workflows) == [workflow.name, child] and child.endswith("_idem_child")
    parent = workflows[workflow.name]["tasks"]
    assert parent["before"]["on-success"] == ["sub_1", "sub_2"]
    for sub in ("sub_1", "sub_2"):
        assert parent[sub] == {"workflow": child, "input": {"seconds": "<% $.seconds %>"}, "on-success": ["after"]}
    assert parent["after"]["join"] == "all" and parent["after"]["input"]["idempotent"] is True
    tasks = workflows[child]["tasks"]
    assert list(tasks) == ["c_1", "c_2", "c_3"] and tasks["c_1"]["on-success"] == ["c_2"]
    assert all(t["input"]["idempotent"] is True for t in tasks.values())


def test_multi_join_feeds_every_join_from_every_branch() -> None:
    workflow, workflows = _workflows("multi-join", n=3, x=2)
    tasks = workflows[workflow.name]["tasks"]
    assert all(tasks[f"p_{i}"]["on-success"] == ["join_1", "join_2"] for i in (1, 2, 3))
    assert all("join" not in tasks[f"p_{i}"] for i in (1, 2, 3))
    for join in ("join_1", "join_2"):
        assert tasks[join]["join"] == "all" and tasks[join]["on-success"] == ["final"]
    assert tasks["final"]["join"] == "all" and "on-success" not in tasks["final"]


def test_policy_kinds_validate_parameters_like_the_rest() -> None:
    with pytest.raises(LabError, match="n must be an integer between 1"):
        reference_workflow("retry", 0)
    with pytest.raises(LabError, match="known: .*subworkflow, multi-join"):
        reference_workflow("spiral", 1)


def test_seven_kinds_carry_no_policy() -> None:
    for kind in REFERENCE_KINDS:
        _, workflows = _workflows(kind)
        tasks = [t for body in workflows.values() for t in body["tasks"].values()]
        assert not any({"retry", "timeout", "wait-before", "wait-after", "workflow"} & set(t) for t in tasks), kind
