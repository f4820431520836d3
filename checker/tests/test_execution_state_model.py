"""The execution-state lifecycle model: forward moves by the engine are fine, going back is not."""
from __future__ import annotations

from checker.check import check_history
from history.events import Event

EX = "ex-1"


def _history(*ops: tuple) -> list[Event]:
    """ops: (process, f, completion type, value) run one after another (no concurrency)."""
    events: list[Event] = []
    for process, f, kind, value in ops:
        events.append(Event(len(events), len(events), process, "invoke", f, None, EX, "api-1"))
        events.append(Event(len(events), len(events), process, kind, f, value, EX, "api-1"))
    return events


def _concurrent(a: tuple, b: tuple) -> list[Event]:
    """Two ops whose invocations both precede both completions."""
    (pa, fa, ka, va), (pb, fb, kb, vb) = a, b
    return [Event(0, 0, pa, "invoke", fa, None, EX), Event(1, 1, pb, "invoke", fb, None, EX),
            Event(2, 2, pa, ka, fa, va, EX), Event(3, 3, pb, kb, fb, vb, EX)]


def test_forward_progress_and_control_ops_are_valid() -> None:
    history = _history((0, "start", "ok", "RUNNING"), (1, "read", "ok", "RUNNING"), (0, "pause", "ok", "PAUSED"),
                       (1, "read", "ok", "PAUSED"), (2, "resume", "ok", "RUNNING"), (1, "read", "ok", "SUCCESS"),
                       (0, "cancel", "ok", "SUCCESS"), (2, "read", "ok", "SUCCESS"))
    assert check_history(history, "execution-state").valid is True


def test_stale_state_read_after_success_is_a_violation() -> None:
    history = _history((0, "start", "ok", "RUNNING"), (1, "read", "ok", "SUCCESS"), (2, "read", "ok", "RUNNING"))
    result = check_history(history, "execution-state")
    assert result.valid is False
    example = result.counterexample
    assert (example["op"]["process"], example["op"]["description"]) == (2, "read -> RUNNING")
    assert example["state"] == "the execution may be SUCCESS"


def test_running_after_cancel_is_a_violation() -> None:
    history = _history((0, "start", "ok", "RUNNING"), (0, "cancel", "ok", "CANCELLED"), (1, "read", "ok", "RUNNING"))
    assert check_history(history, "execution-state").valid is False


def test_paused_execution_does_not_resume_by_itself() -> None:
    history = _history((0, "start", "ok", "RUNNING"), (0, "pause", "ok", "PAUSED"), (1, "read", "ok", "RUNNING"))
    assert check_history(history, "execution-state").valid is False


def test_indeterminate_resume_may_explain_running() -> None:
    history = _history((0, "start", "ok", "RUNNING"), (0, "pause", "ok", "PAUSED"), (1, "resume", "info", None),
                       (2, "read", "ok", "RUNNING"))
    assert check_history(history, "execution-state").valid is True


def test_read_concurrent_with_a_no_op_resume_is_not_a_false_alarm() -> None:
    # resume answered RUNNING (a no-op), a concurrent read saw SUCCESS: resume first, then the read.
    history = _history((0, "start", "ok", "RUNNING")) + [
        Event(2, 2, 1, "invoke", "resume", None, EX), Event(3, 3, 2, "invoke", "read", None, EX),
        Event(4, 4, 2, "ok", "read", "SUCCESS", EX), Event(5, 5, 1, "ok", "resume", "RUNNING", EX)]
    assert check_history(history, "execution-state").valid is True


def test_indeterminate_start_then_absent_is_valid_and_absent_after_ok_start_is_not() -> None:
    assert check_history(_history((0, "start", "info", None), (1, "read", "ok", "ABSENT")),
                         "execution-state").valid is True
    assert check_history(_history((0, "start", "ok", "RUNNING"), (1, "read", "ok", "ABSENT")),
                         "execution-state").valid is False


def test_unknown_state_is_bad_input() -> None:
    import pytest

    from history.events import HistoryError
    with pytest.raises(HistoryError, match="not an execution state"):
        check_history(_history((0, "read", "ok", "SLEEPING")), "execution-state")
