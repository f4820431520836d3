"""What a SUCCESS run must do, for the forms the direct-workflow counts of test_workflow_file do not cover:
reverse workflows (the target's requires closure) and on-skip transitions."""
from __future__ import annotations

from typing import Any

from workloads.workflow_shape import expected_counts


def _witness(**extra: Any) -> dict[str, Any]:
    return {"action": "lab.witness", "input": {"seconds": 0, "label": "x", "idempotent": True}, **extra}


def _reverse(tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "reverse", "tasks": tasks, **extra}


DIAMOND = {"a": _witness(), "b": _witness(requires=["a"]), "c": _witness(requires="a"),
           "d": _witness(requires=["b", "c"]), "e": _witness(requires=["d"])}


def test_reverse_counts_the_target_s_closure_once_per_task() -> None:
    assert expected_counts(_reverse(DIAMOND), "d") == {"expected_tasks": 4, "expected_actions": 4}
    assert expected_counts(_reverse(DIAMOND), "a") == {"expected_tasks": 1, "expected_actions": 1}


def test_reverse_without_a_known_target_counts_nothing() -> None:
    assert expected_counts(_reverse(DIAMOND)) == {}
    assert expected_counts(_reverse(DIAMOND), "zzz") == {}


def test_reverse_task_defaults_requires_join_every_task_but_itself() -> None:
    tasks = {"setup": _witness(), "x": _witness(), "y": _witness(requires=["x"])}
    body = _reverse(tasks, **{"task-defaults": {"requires": ["setup"]}})
    assert expected_counts(body, "y") == {"expected_tasks": 3, "expected_actions": 3}


def test_reverse_with_items_leaves_only_actions_out_unknown_requires_everything() -> None:
    tasks = {"a": _witness(**{"with-items": "i in <% [1, 2] %>"}), "b": _witness(requires=["a"])}
    assert expected_counts(_reverse(tasks), "b") == {"expected_tasks": 2}
    assert expected_counts(_reverse({"b": _witness(requires=["ghost"])}), "b") == {}
    assert expected_counts(_reverse({"b": _witness(requires=[{"a": 1}])}), "b") == {}


def test_an_on_skip_target_is_no_start_task() -> None:
    """Mistral 23 counts on-skip transitions as inbound: their target only runs when a task is skipped."""
    body = {"tasks": {"a": _witness(**{"on-skip": ["cleanup"]}), "cleanup": _witness()}}
    assert expected_counts(body) == {"expected_tasks": 1, "expected_actions": 1}


def test_task_defaults_on_skip_is_not_modelled() -> None:
    body = {"tasks": {"a": _witness()}, "task-defaults": {"on-skip": ["a"]}}
    assert expected_counts(body) == {}
