"""The counting behind the operators integration test (lab/tests/operators_lab.py), without Docker: inspect's
thresholds matched to a lab's settings, and found / missed / late / false against the completion checker."""
from __future__ import annotations

from lab.tests.operators_lab import CheckerView, Figures, compare, threshold_args, thresholds_for

LAB = {"action_heartbeat": {"check_interval": "2", "max_missed_heartbeats": "5", "first_heartbeat_timeout": "30"}}


def test_thresholds_follow_the_labs_heartbeat_settings_else_mistrals_defaults() -> None:
    lab = thresholds_for(LAB)
    assert (lab.heartbeat_window_s, lab.first_heartbeat_timeout_s, lab.quiet_s) == (10.0, 30.0, 10.0)
    assert threshold_args(lab) == ["--heartbeat-window", "10", "--first-heartbeat-timeout", "30", "--older-than", "10"]
    default = thresholds_for({})
    assert (default.heartbeat_window_s, default.first_heartbeat_timeout_s) == (300.0, 3600.0)


def _item(cls: str, kind: str, ex_id: str) -> dict:
    return {"class": cls, "kind": kind, "execution_id": ex_id}


def test_compare_counts_found_missed_late_false_and_kind_mismatches() -> None:
    view = CheckerView(stuck={"s1": "idle-task", "s2": "waiting-join", "s3": "idle-task", "s4": "idle-task"},
                       errored={"e1"}, started={"s1", "s2", "s3", "s4", "e1", "ok1"}, stuck_count_reported=4,
                       verdict=False)
    document = {"items": [
        _item("stuck-execution", "idle-task", "s1"),
        _item("stuck-execution", "idle-task", "s2"),           # found, but classed otherwise
        _item("abandoned-action", "heartbeat", "e1"),          # wrongly failed work the checker flagged too
        _item("stuck-execution", "idle-task", "ok1"),          # the checker calls it healthy: false
        _item("stuck-execution", "idle-task", "stranger"),     # no client of the run started it: false
    ]}
    figures = Figures("f", 1, "run")
    compare(view, document, {"s3": "SUCCESS", "s4": "RUNNING"}, figures)
    assert figures.found == 2
    assert figures.late == ["s3"]  # finished after the snapshot: the checker judged it before it moved
    assert figures.missed == ["s4"]
    assert figures.false == ["stuck-execution/idle-task ok1", "stuck-execution/idle-task stranger"]
    assert figures.kind_mismatches == ["s2: checker waiting-join, inspect idle-task"]
    assert figures.checker_kinds == {"idle-task": 3, "waiting-join": 1}
    assert figures.inspect_items == {"abandoned-action/heartbeat": 1, "stuck-execution/idle-task": 4}
    line = figures.line()
    assert "found 2 missed 1 false 2 late 1" in line and line.startswith("FIGURES f seed 1:")
