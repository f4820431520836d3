"""Random small histories: the search must agree with brute force over all orders."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.check import check_history
from checker.models import get_model
from checker.tests.reference import brute_force_linearizable
from history import Event, pair_operations

OPS = {
    "cas-register": ["read", "write", "cas"],
    "mutex": ["acquire", "release"],
    "kv-append": ["get", "put", "append"],
}


@st.composite
def histories(draw, model_name: str, max_ops: int = 7):
    """Up to max_ops ops over 3 processes; results come from a real register or are random."""
    truthful = draw(st.booleans())
    register = {"cas-register": None, "mutex": False, "kv-append": {}}[model_name]
    events: list[Event] = []
    open_ops: dict[int, tuple] = {}
    next_process = 3
    live = [0, 1, 2]
    started = 0
    while started < max_ops or open_ops:
        slot = draw(st.integers(0, len(live) - 1))
        process = live[slot]
        if process in open_ops:
            f, value, key = open_ops.pop(process)
            kind = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"]))
            register, result, applied = _apply(model_name, register, f, value, key, draw, truthful)
            if kind == "ok" and not applied:
                kind = "fail"
            if kind == "info":
                live[slot] = next_process
                next_process += 1
            events.append(Event(len(events), len(events), process, kind, f, result, key))
        elif started < max_ops:
            f = draw(st.sampled_from(OPS[model_name]))
            value = _invoke_value(model_name, f, draw)
            key = draw(st.sampled_from(["a", "b"])) if model_name == "kv-append" else None
            open_ops[process] = (f, value, key)
            events.append(Event(len(events), len(events), process, "invoke", f, value, key))
            started += 1
        else:
            continue
    return events


def _invoke_value(model_name, f, draw):
    if f in ("read", "get", "acquire", "release"):
        return None
    if f == "cas":
        return [draw(st.sampled_from([None, 0, 1])), draw(st.integers(0, 2))]
    if model_name == "kv-append":
        return draw(st.sampled_from(["x", "y"]))
    return draw(st.integers(0, 2))


def _apply(model_name, register, f, value, key, draw, truthful):
    """(new register, completion value, whether it took effect) - honest or made up."""
    if model_name == "cas-register":
        if f == "read":
            return register, register if truthful else draw(st.sampled_from([None, 0, 1, 2])), True
        if f == "write":
            return value, value, True
        if register == value[0] or not truthful and draw(st.booleans()):
            return value[1], value, True
        return register, value, False
    if model_name == "mutex":
        wanted = f == "acquire"
        if register != wanted or not truthful and draw(st.booleans()):
            return wanted, None, True
        return register, None, False
    current = register.get(key, "")
    if f == "get":
        return register, current if truthful else draw(st.sampled_from(["", "x", "xy", "y"])), True
    new = value if f == "put" else current + value
    return {**register, key: new}, value, True


def _agree(events, model_name):
    model = get_model(model_name)
    expected = brute_force_linearizable(pair_operations(events), model)
    result = check_history(events, model_name)
    assert result.valid is expected, (events, result.to_json())
    if result.valid is False:
        assert result.counterexample["explanation"]


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(histories("cas-register"))
def test_cas_register_agrees_with_brute_force(events):
    _agree(events, "cas-register")


@SETTINGS
@given(histories("mutex"))
def test_mutex_agrees_with_brute_force(events):
    _agree(events, "mutex")


@SETTINGS
@given(histories("kv-append"))
def test_kv_append_agrees_with_brute_force(events):
    _agree(events, "kv-append")
