import json

import pytest

from checker.check import Budget, check_history
from checker.models import MODELS, Model, get_model
from checker.report_html import render
from history import Event, HistoryError


def history(*rows):
    """rows: (process, type, f, value[, key]) in real-time order."""
    return [Event(i, i, row[0], row[1], row[2], row[3], row[4] if len(row) > 4 else None, line=i + 1) for i, row in enumerate(rows)]


def test_empty_history_is_valid_and_says_so():
    result = check_history([], "cas-register")
    assert result.valid is True and result.ops == 0
    assert "empty" in result.to_json()["reason"]


def test_stale_read_is_invalid_with_a_readable_counterexample():
    events = history(
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (1, "invoke", "write", 2), (1, "ok", "write", 2),
        (2, "invoke", "read", None), (2, "ok", "read", 1),
    )
    result = check_history(events, "cas-register")
    assert result.valid is False
    example = result.to_json()["counterexample"]
    json.dumps(example)
    assert example["op"]["process"] == 2 and example["op"]["description"] == "read 1"
    assert example["longest_linearizations"][0]["length"] == 2
    assert "the register holds 2" in example["explanation"]
    page = render(result)
    assert "<svg" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_info_ops_are_optional_and_fail_ops_dropped():
    events = history(
        (0, "invoke", "write", 1), (0, "info", "write", 1),
        (1, "invoke", "cas", [5, 6]), (1, "fail", "cas", [5, 6]),
        (2, "invoke", "read", None), (2, "ok", "read", None),
        (3, "invoke", "read", None), (3, "ok", "read", 1),
        (4, "invoke", "read", None), (4, "ok", "read", 1),
    )
    assert check_history(events, "cas-register").valid is True
    assert check_history(events[:6] + history((3, "invoke", "read", None), (3, "ok", "read", 6)), "cas-register").valid is False


def test_keys_are_independent_and_first_invalid_key_is_reported():
    events = history(
        (0, "invoke", "put", "x", "a"), (0, "ok", "put", "x", "a"),
        (1, "invoke", "get", None, "b"), (1, "ok", "get", "x", "b"),
        (2, "invoke", "get", None, "a"), (2, "ok", "get", "x", "a"),
    )
    result = check_history(events, "kv-append")
    assert result.keys == 2 and result.valid is False
    assert result.counterexample["key"] == "b"


def test_budget_exhaustion_gives_unknown_not_a_crash():
    # Many concurrent writes and reads of values nobody wrote last: a lot of search.
    rows = [(p, "invoke", "write", p) for p in range(14)] + [(p, "ok", "write", p) for p in range(14)]
    events = history(*rows) + history(*[(20, "invoke", "read", None), (20, "ok", "read", 99)])
    events = [Event(i, i, e.process, e.type, e.f, e.value) for i, e in enumerate(events)]
    result = check_history(events, "cas-register", budget=Budget(max_steps=1000), slice_steps=100)
    assert result.valid == "unknown"
    assert "step limit" in result.reason


def test_unknown_f_names_the_line():
    with pytest.raises(HistoryError, match="unknown f 'frob'") as caught:
        check_history(history((0, "invoke", "frob", 1), (0, "ok", "frob", 1)), "cas-register")
    assert caught.value.line == 1


def test_unknown_model():
    with pytest.raises(KeyError, match="unknown model"):
        get_model("nope")


def test_a_new_model_is_a_few_lines():
    class Counter(Model):
        name = "counter"
        fs = frozenset({"add", "read"})

        def init(self):
            return 0

        def step(self, state, op):
            if op.f == "add":
                return True, state + op.value
            return op.value == state, state

    events = history((0, "invoke", "add", 2), (1, "invoke", "read", None), (0, "ok", "add", 2), (1, "ok", "read", 2))
    assert check_history(events, Counter()).valid is True
    assert set(MODELS) >= {"register", "cas-register", "kv-append", "mutex", "multi-register"}


def test_mutex_and_multi_register_models():
    mutex = history((0, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "invoke", "acquire", None), (1, "ok", "acquire", None))
    assert check_history(mutex, "mutex").valid is False
    txns = history(
        (0, "invoke", "txn", [["write", "x", 1], ["write", "y", 2]]), (0, "ok", "txn", [["write", "x", 1], ["write", "y", 2]]),
        (1, "invoke", "txn", [["read", "x", None], ["read", "y", None]]), (1, "ok", "txn", [["read", "x", 1], ["read", "y", 0]]),
    )
    assert check_history(txns, "multi-register").valid is False
    assert check_history(txns[:2], "multi-register").valid is True


def test_check_file_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    import gc

    from checker.check import check_file

    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(json.dumps({"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "read"}) + "\n")
    bad.write_text(json.dumps({"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "frob"}) + "\n")
    assert check_file(str(good)).valid is True and gc.isenabled()
    with pytest.raises(HistoryError, match="bad.jsonl:1: unknown f"):
        check_file(str(bad))
    assert gc.isenabled()
    gc.disable()
    try:
        check_file(str(good))
        assert not gc.isenabled()
    finally:
        gc.enable()
