"""The map's cells: method x side x action from the rpc fault's own lists, the selection flags, and bad input as
one LabError line."""
from __future__ import annotations

import pytest

from cluster.errors import LabError
from lab.map.cells import NO_SIDE, QUICK_ACTIONS, QUICK_METHODS, Cell, all_cells, select_cells
from nemesis.rpc import ACTIONS, METHODS, SIDES


def test_every_cell_is_a_method_side_and_action_of_the_rpc_fault_in_its_order() -> None:
    cells = all_cells()
    assert len(cells) == len(METHODS) * len(SIDES) * len(ACTIONS) - len(NO_SIDE) * len(ACTIONS)
    assert len({c.key for c in cells}) == len(cells)
    assert cells[0] == Cell("run_action", "receive", "drop")
    assert [c.method for c in cells] == sorted((c.method for c in cells), key=METHODS.index)  # method-major
    assert not any((c.method, c.side) in NO_SIDE for c in cells)
    assert Cell.of("start_task/send/crash-after") == Cell("start_task", "send", "crash-after")


def test_the_quick_map_is_drop_and_crash_after_on_the_action_path() -> None:
    assert set(QUICK_METHODS) <= set(METHODS) and set(QUICK_ACTIONS) <= set(ACTIONS)
    cells = select_cells(quick=True)
    assert {c.method for c in cells} == {"run_action", "on_action_complete", "start_task", "start_workflow"}
    assert {c.action for c in cells} == {"drop", "crash-after"} and {c.side for c in cells} == set(SIDES)
    assert len(cells) == 16
    # An explicit flag replaces its half of the preset.
    assert {c.action for c in select_cells(actions="delay", quick=True)} == {"delay"}
    assert {c.method for c in select_cells(methods="notify", quick=True)} == {"notify"}


def test_flags_narrow_the_map_and_accept_commas_or_repeats() -> None:
    cells = select_cells(methods="run_action, start_task", sides="send", actions=["drop", "delay,drop"])
    assert [c.key for c in cells] == ["run_action/send/drop", "run_action/send/delay", "start_task/send/drop",
                                      "start_task/send/delay"]
    # No side named: a method's missing side is simply left out, not an error.
    assert {c.side for c in select_cells(methods="create_event_trigger")} == {"send"}
    assert all(c.side == "receive" for c in select_cells(sides="receive"))


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": "run_actions"}, "unknown method 'run_actions': choose among run_action, "),
    ({"sides": "both"}, "unknown side 'both': choose among receive, send"),
    ({"actions": "lose"}, "unknown action 'lose': choose among drop, delay, duplicate, crash-after"),
    ({"methods": " , "}, "--methods: give at least one method"),
    ({"methods": "run_action,update_event_trigger", "sides": "receive"},
     "method update_event_trigger has no receive side in the lab: received by Mistral's event engine"),
])
def test_bad_input_is_one_clear_line(kwargs: dict, message: str) -> None:
    with pytest.raises(LabError) as caught:
        select_cells(**kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 3
