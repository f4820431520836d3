"""Random small histories for every model: the search must agree with brute force over all orders.

Each model has a small simulated system (`Spec`) that answers honestly or makes answers up, so both
valid and invalid histories come out (test_generator_makes_both_verdicts proves it). A second property
puts an op that cannot be linearized first in front of an honest history: the verdict must be invalid
with a counterexample whose longest prefix is empty and whose state is the model's initial state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from checker.check import check_history
from checker.models import MODELS, get_model
from checker.models.execution_state import CLIENT_MOVES, ENGINE_MOVES, STATES
from checker.tests.reference import brute_force_linearizable
from history import Event, pair_operations

Draw = Callable[[st.SearchStrategy], Any]
# (f, invoke value, completion value, key) of one op
OpRow = tuple[str, Any, Any, Any]


@dataclass(frozen=True)
class Spec:
    """A tiny simulated system for one model."""

    init: Callable[[], Any]
    invoke: Callable[[Draw], tuple[str, Any, Any]]  # -> (f, invoke value, key)
    # (state, f, value, key, draw, truthful) -> (new state, completion value, whether it took effect)
    apply: Callable[[Any, str, Any, Any, Draw, bool], tuple[Any, Any, bool]]
    impossible_first: OpRow  # an op that cannot be linearized in the model's initial state


# --- registers ---------------------------------------------------------------------------------

def _register_invoke(fs: list[str]) -> Callable[[Draw], tuple[str, Any, Any]]:
    def invoke(draw: Draw) -> tuple[str, Any, Any]:
        f = draw(st.sampled_from(fs))
        if f == "read":
            return f, None, None
        if f == "cas":
            return f, [draw(st.sampled_from([None, 0, 1])), draw(st.integers(0, 2))], None
        return f, draw(st.integers(0, 2)), None
    return invoke


def _register_apply(state: Any, f: str, value: Any, key: Any, draw: Draw, truthful: bool) -> tuple[Any, Any, bool]:
    if f == "read":
        return state, state if truthful else draw(st.sampled_from([None, 0, 1, 2])), True
    if f == "write":
        return value, value, True
    if state == value[0] or not truthful and draw(st.booleans()):
        return value[1], value, True
    return state, value, False


# --- kv-append ---------------------------------------------------------------------------------

def _kv_invoke(draw: Draw) -> tuple[str, Any, Any]:
    f = draw(st.sampled_from(["get", "put", "append"]))
    return f, None if f == "get" else draw(st.sampled_from(["x", "y"])), draw(st.sampled_from(["a", "b"]))


def _kv_apply(state: dict, f: str, value: Any, key: Any, draw: Draw, truthful: bool) -> tuple[Any, Any, bool]:
    current = state.get(key, "")
    if f == "get":
        return state, current if truthful else draw(st.sampled_from(["", "x", "xy", "y"])), True
    return {**state, key: value if f == "put" else current + value}, value, True


# --- mutex -------------------------------------------------------------------------------------

def _mutex_invoke(draw: Draw) -> tuple[str, Any, Any]:
    return draw(st.sampled_from(["acquire", "release"])), None, None


def _mutex_apply(held: bool, f: str, value: Any, key: Any, draw: Draw, truthful: bool) -> tuple[Any, Any, bool]:
    wanted = f == "acquire"
    if held != wanted or not truthful and draw(st.booleans()):
        return wanted, None, True
    return held, None, False


# --- multi-register ------------------------------------------------------------------------------

def _txn_invoke(draw: Draw) -> tuple[str, Any, Any]:
    micro = st.tuples(st.sampled_from(["read", "write"]), st.sampled_from(["x", "y"]), st.integers(0, 2))
    txn = [[kind, register, None if kind == "read" else value] for kind, register, value in draw(
        st.lists(micro, min_size=1, max_size=2))]
    return "txn", txn, None


def _txn_apply(state: dict, f: str, value: Any, key: Any, draw: Draw, truthful: bool) -> tuple[Any, Any, bool]:
    registers, result = dict(state), []
    for kind, register, written in value:
        if kind == "read":
            seen = registers.get(register, 0) if truthful else draw(st.integers(0, 2))
            result.append(["read", register, seen])
        else:
            registers[register] = written
            result.append(["write", register, written])
    return registers, result, True


# --- execution-state -------------------------------------------------------------------------------

def _execution_invoke(draw: Draw) -> tuple[str, Any, Any]:
    f = draw(st.sampled_from(["start", "read", "read", "pause", "resume", "cancel"]))
    return f, {"workflow": "wf"} if f == "start" else None, "ex"


def _execution_apply(state: str, f: str, value: Any, key: Any, draw: Draw, truthful: bool) -> tuple[Any, Any, bool]:
    """A real execution: the engine may move it first; a client op may move it or be a no-op."""
    if not truthful:
        return state, draw(st.sampled_from(sorted(STATES))), True
    if state in ENGINE_MOVES and draw(st.booleans()):
        state = draw(st.sampled_from(sorted(ENGINE_MOVES[state])))
    # any client op may be a no-op, except a start of a new execution
    if f != "read" and state in CLIENT_MOVES[f] and (f == "start" or draw(st.booleans())):
        state = CLIENT_MOVES[f][state]
    return state, state, True


SPECS: dict[str, Spec] = {
    "register": Spec(lambda: None, _register_invoke(["read", "write"]), _register_apply, ("read", None, 7, None)),
    "cas-register": Spec(lambda: None, _register_invoke(["read", "write", "cas"]), _register_apply,
                         ("cas", [5, 6], [5, 6], None)),
    "kv-append": Spec(dict, _kv_invoke, _kv_apply, ("get", None, "zz", "a")),
    "mutex": Spec(lambda: False, _mutex_invoke, _mutex_apply, ("release", None, None, None)),
    "multi-register": Spec(dict, _txn_invoke, _txn_apply, ("txn", [["read", "x", None]], [["read", "x", 1]], None)),
    "execution-state": Spec(lambda: "ABSENT", _execution_invoke, _execution_apply, ("read", None, "RUNNING", "ex")),
}


def test_every_model_has_a_spec() -> None:
    assert set(SPECS) == set(MODELS)


@st.composite
def histories(draw: Draw, model_name: str, max_ops: int = 7, truthful: bool | None = None,
              prefix: tuple[OpRow, ...] = (), kinds: tuple[str, ...] = ("ok", "ok", "ok", "fail", "info")) -> list[Event]:
    """`prefix` ops run alone, one after another, before up to max_ops random ops over 3 processes;
    each op ends with one of `kinds`."""
    spec = SPECS[model_name]
    truthful = draw(st.booleans()) if truthful is None else truthful
    events: list[Event] = []
    for f, invoke_value, completion_value, key in prefix:
        events.append(Event(len(events), len(events), 9, "invoke", f, invoke_value, key))
        events.append(Event(len(events), len(events), 9, "ok", f, completion_value, key))
    state = spec.init()
    open_ops: dict[int, tuple] = {}
    live, next_process, started = [0, 1, 2], 3, 0
    while started < max_ops or open_ops:
        slot = draw(st.integers(0, len(live) - 1))
        process = live[slot]
        if process in open_ops:
            f, value, key = open_ops.pop(process)
            kind = draw(st.sampled_from(kinds))
            new_state, result, applied = spec.apply(state, f, value, key, draw, truthful)
            if kind == "ok" and not applied:
                kind = "fail"
            if kind == "ok" or kind == "info" and draw(st.booleans()):  # an info op may or may not happen
                state = new_state
            if kind == "info":
                live[slot] = next_process  # an info op retires its process
                next_process += 1
            events.append(Event(len(events), len(events), process, kind, f, result, key))
        elif started < max_ops:
            f, value, key = spec.invoke(draw)
            open_ops[process] = (f, value, key)
            events.append(Event(len(events), len(events), process, "invoke", f, value, key))
            started += 1
    return events


def _agree(events: list[Event], model_name: str) -> None:
    model = get_model(model_name)
    expected = brute_force_linearizable(pair_operations(events), model)
    result = check_history(events, model_name)
    assert result.valid is expected, (events, result.to_json())
    if result.valid is False:
        example = result.counterexample
        assert example["explanation"] and example["op"]["status"] == "ok"
        assert isinstance(example["state"], str) and example["longest_linearizations"]


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("model_name", sorted(SPECS))
def test_agrees_with_brute_force(model_name: str) -> None:
    SETTINGS(given(histories(model_name))(lambda events: _agree(events, model_name)))()


@pytest.mark.parametrize("model_name", sorted(SPECS))
def test_agrees_with_brute_force_when_most_ops_are_info(model_name: str) -> None:
    """Info ops are where the search prunes hardest (superset and twin pruning): check it there."""
    strategy = histories(model_name, max_ops=8, kinds=("ok", "info", "info"))
    settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
        given(strategy)(lambda events: _agree(events, model_name)))()


@pytest.mark.parametrize("model_name", sorted(SPECS))
def test_first_op_impossible_is_invalid_from_the_initial_state(model_name: str) -> None:
    model = get_model(model_name)
    impossible = SPECS[model_name].impossible_first

    def check(events: list[Event]) -> None:
        _agree(events, model_name)
        result = check_history(events, model_name)
        assert result.valid is False
        example = result.counterexample
        assert example["op"]["id"] == 0 and example["op"]["f"] == impossible[0]
        assert [p["length"] for p in example["longest_linearizations"]] == [0]
        assert example["state"] == model.describe_state(model.init())

    strategy = histories(model_name, max_ops=5, truthful=True, prefix=(impossible,))
    settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])(given(strategy)(check))()


@pytest.mark.parametrize("model_name", sorted(SPECS))
def test_generator_makes_both_verdicts(model_name: str) -> None:
    """Guards the properties above against a generator that only ever makes one kind of history."""
    model = get_model(model_name)
    for verdict in (True, False):
        find(histories(model_name), lambda events: brute_force_linearizable(pair_operations(events), model) is verdict,
             settings=settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate]))


@pytest.mark.parametrize("model_name", sorted(SPECS))
def test_describe_state_handles_the_initial_state(model_name: str) -> None:
    model = get_model(model_name)
    assert isinstance(model.describe_state(model.init()), str)
