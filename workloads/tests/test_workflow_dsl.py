"""Every form of Mistral's v2 DSL the workflow workload takes, and each mistake Mistral would refuse at every
start found once, when the workload is built."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.errors import LabError
from workloads import make_workload, parse_params
from workloads.workflow_dsl import is_workbook, load_source

WORKBOOK = """\
version: '2.0'
name: book
description: two workflows, the main one calls the other by its short name
workflows:
  child:
    input: [label]
    tasks:
      work:
        action: lab.witness
        input: {seconds: 0, label: <% $.label %>, idempotent: true}
  main:
    input:
      - label: from-main
    tasks:
      call:
        workflow: child
        input: {label: "{{ _.label }}"}
"""

REVERSE = """\
version: '2.0'
build:
  type: reverse
  tasks:
    fetch:
      action: lab.witness seconds=0 label=fetch idempotent=true
    compile:
      action: lab.witness seconds=0 label=compile idempotent=true
      requires: [fetch]
    package:
      action: std.noop
      requires: compile
    unrelated:
      action: lab.witness seconds=0 label=unrelated idempotent=true
"""

SEVERAL = """\
version: '2.0'
first:
  tasks: {only: {action: std.noop}}
second:
  input: [name, {greeting: hello}]
  tasks: {only: {action: std.echo output=1}}
"""


def _build(tmp_path: Path, text: str, **params: Any):
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return make_workload("workflow", {"file": str(path), **params})


# ---------------------------------------------------------------- workbooks
def test_a_workbook_starts_its_workflow_by_full_name_from_either_name(tmp_path: Path) -> None:
    for given in ("main", "book.main"):
        built = _build(tmp_path, WORKBOOK, workflow=given)
        assert built.request.workflow == "book.main"
        assert built.source.kind == "workbooks" and built.source.definitions() == [WORKBOOK]  # sent as written
    op = built.next_op(random.Random(0), 0, "api-1")
    assert op is not None and op.value["workflow"] == "book.main"
    # The sub-workflow's task executions are the child's: the parent's one task is all the start expects.
    assert op.value["expected_tasks"] == 1 and op.value["expected_actions"] == 0


@pytest.mark.parametrize("text, message", [
    (WORKBOOK.replace("name: book\n", ""), None),  # no string name but nested workflows: still a workbook
    (WORKBOOK.replace("version: '2.0'\n", ""), r"workbook 'book': version: '2.0' is required"),
    (WORKBOOK + "triggers: {}\n", r"workbook 'book': unknown section 'triggers'"),
    ("version: '2.0'\nname: book\n", r"workbook 'book' defines no workflow"),
    ("version: '2.0'\nname: book\nworkflows: {main: {type: sideways, tasks: {a: {action: std.noop}}}}\n",
     r"workbook 'book': workflow 'main': type 'sideways' \(Mistral reads direct or reverse\)"),
])
def test_workbook_mistakes_are_one_line(tmp_path: Path, text: str, message: str | None) -> None:
    with pytest.raises(LabError, match=message or r"a workbook needs a name") as caught:
        _build(tmp_path, text, workflow="main")
    assert "\n" not in str(caught.value)


def test_a_workbook_without_the_workflow_names_what_it_has(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"workbook 'book' \(.*\) has no workflow 'nope' \(it defines: child, main\)"):
        _build(tmp_path, WORKBOOK, workflow="book.nope")


def test_workbook_detection() -> None:
    assert is_workbook({"name": "b", "workflows": {}}) and not is_workbook({"version": "2.0", "wf": {"tasks": {}}})
    assert not is_workbook({"workflows": {"tasks": {"a": {}}}})  # a workflow that is called "workflows"


# ---------------------------------------------------------------- several workflows, input with defaults
def test_several_workflows_the_named_one_starts_all_are_created(tmp_path: Path) -> None:
    built = _build(tmp_path, SEVERAL, workflow="second", input={"name": "x"}, probe_s=0)
    assert built.request.workflow == "second" and built.request.input == {"name": "x"}  # greeting: its default
    assert [next(k for k in yaml.safe_load(d) if k != "version") for d in built.source.definitions()] == \
        ["first", "second"]


def test_one_workflow_needs_no_name(tmp_path: Path) -> None:
    assert _build(tmp_path, REVERSE, params={"task_name": "package"}).request.workflow == "build"


def test_input_with_a_default_is_optional_a_plain_entry_required(tmp_path: Path) -> None:
    _build(tmp_path, SEVERAL, workflow="second", input={"name": "x", "greeting": "hi"})
    with pytest.raises(LabError, match=r"input for workflow 'second': missing name \(declared: greeting, name\)"):
        _build(tmp_path, SEVERAL, workflow="second", input={"greeting": "hi"})


# ---------------------------------------------------------------- reverse workflows and start params
def test_a_reverse_workflow_without_task_name_is_the_issue_s_one_line(tmp_path: Path) -> None:
    with pytest.raises(LabError) as caught:
        _build(tmp_path, REVERSE)
    assert str(caught.value) == "reverse workflow build: name the target task with params.task_name"
    assert caught.value.exit_code == 3


def test_a_reverse_target_must_be_one_of_its_tasks(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"params.task_name 'deploy' is not one of its tasks \(fetch, compile, "):
        _build(tmp_path, REVERSE, params={"task_name": "deploy"})


def test_reverse_start_sends_task_name_and_counts_the_target_s_closure(tmp_path: Path) -> None:
    built = _build(tmp_path, REVERSE, params={"task_name": "package"})
    assert built.request.params == {"task_name": "package"}
    op = built.next_op(random.Random(0), 0, "api-1")
    assert op is not None
    assert (op.value["expected_tasks"], op.value["expected_actions"]) == (3, 2)  # not `unrelated`


def test_env_and_namespace_go_where_mistral_reads_them(tmp_path: Path) -> None:
    built = _build(tmp_path, SEVERAL, workflow="first", params={"env": {"region": "r1"}, "namespace": "team"})
    assert built.request.params == {"env": {"region": "r1"}} and built.request.namespace == "team"


@pytest.mark.parametrize("params, message", [
    ({"env": 5}, r"params.env must be a mapping of variables or an environment's name"),
    ({"namespace": ["a"]}, r"params.namespace must be a string"),
    ("[1, 2]", r"parameter params=.*must be a mapping of Mistral's start params"),
])
def test_bad_start_params_are_lab_errors(tmp_path: Path, params: Any, message: str) -> None:
    with pytest.raises(LabError, match=message):
        _build(tmp_path, SEVERAL, workflow="first", params=params)


def test_params_from_the_command_line_are_yaml(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(REVERSE)
    built = make_workload("workflow", parse_params([f"file={path}", "params={task_name: compile, env: prod}"]))
    assert built.request.params == {"task_name": "compile", "env": "prod"}


# ---------------------------------------------------------------- built to fail
def test_expect_error_marks_every_start_and_records_no_expected_work(tmp_path: Path) -> None:
    built = _build(tmp_path, SEVERAL, workflow="first", expect="ERROR")
    op = built.next_op(random.Random(0), 0, "api-1")
    assert op is not None and op.value["expect"] == "ERROR" and "expected_tasks" not in op.value
    with pytest.raises(LabError, match=r"expect='maybe' .*success \(the default\) or error"):
        _build(tmp_path, SEVERAL, workflow="first", expect="maybe")


def test_load_source_keeps_the_workbook_text(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(WORKBOOK)
    source = load_source(path)
    assert source.workbook == "book" and list(source.workflows) == ["child", "main"] and source.text == WORKBOOK
