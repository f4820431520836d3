import pytest

from history import Event, HistoryError, pair_operations


def ev(index, process, type_, f, value=None, key=None):
    return Event(index, index, process, type_, f, value, key, line=index + 1)


def test_pairs_ok_fail_info_and_open_ops():
    events = [
        ev(0, 0, "invoke", "read"),
        ev(1, 1, "invoke", "write", 3),
        ev(2, 0, "ok", "read", 7),
        ev(3, "nemesis", "info", "kill"),
        ev(4, 1, "info", "write", 3),
        ev(5, 2, "invoke", "cas", [1, 2]),
        ev(6, 2, "fail", "cas", [1, 2]),
        ev(7, 3, "invoke", "write", 9),
    ]
    read, write, cas, crashed = pair_operations(events)
    assert (read.status, read.value, read.call, read.ret) == ("ok", 7, 0, 2)
    assert (write.status, write.value, write.ret) == ("info", 3, None)
    assert (cas.status, cas.ret) == ("fail", 6)
    assert (crashed.status, crashed.ret) == ("info", None)
    assert len(pair_operations(events, include_failed=False)) == 3


@pytest.mark.parametrize(
    "events, line, reason",
    [
        ([ev(0, 0, "invoke", "read"), ev(1, 0, "invoke", "read")], 2, "still open"),
        ([ev(0, 0, "invoke", "read"), ev(1, 0, "info", "read"), ev(2, 0, "invoke", "read")], 3, "retired"),
        ([ev(0, 0, "ok", "read", 1)], 1, "without an invoke"),
        ([ev(0, 0, "invoke", "read"), ev(1, 0, "ok", "write", 1)], 2, "invoked 'read'"),
    ],
)
def test_process_rules(events, line, reason):
    with pytest.raises(HistoryError, match=reason) as caught:
        pair_operations(events)
    assert caught.value.line == line


def test_with_value_copies_every_other_field():
    import dataclasses

    [op] = pair_operations([ev(0, 0, "invoke", "cas", [1, 2], key="k"), ev(1, 0, "ok", "cas", [1, 2], key="k")])
    assert op.with_value((1, 2)) == dataclasses.replace(op, value=(1, 2))
    assert op.value == [1, 2]  # the original is left alone
