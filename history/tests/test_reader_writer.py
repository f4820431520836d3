import json
import warnings

import pytest

from history import Event, HistoryError, HistoryWriter, TornLineWarning, read_history


def _line(index: int, **fields) -> str:
    event = {"index": index, "time": index * 10, "process": 0, "type": "invoke", "f": "read", "value": None}
    event.update(fields)
    return json.dumps(event)


def test_writer_round_trip(tmp_path):
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as writer:
        writer.append(3, "invoke", "write", 5, key="k1", node="api-1")
        writer.append(3, "ok", "write", 5, key="k1", node="api-1")
        writer.append("nemesis", "info", "partition", {"nodes": ["a"]})
    events = read_history(path)
    assert [e.index for e in events] == [0, 1, 2]
    assert events[0] == Event(0, events[0].time, 3, "invoke", "write", 5, "k1", "api-1")
    assert events[2].process == "nemesis" and events[2].value == {"nodes": ["a"]}
    assert all(a.time <= b.time for a, b in zip(events, events[1:]))


def test_writer_flushes_in_batches_and_on_close(tmp_path):
    path = tmp_path / "h.jsonl"
    writer = HistoryWriter(path, flush_every=2)
    writer.append(0, "invoke", "read")
    assert path.read_text() == ""  # still buffered
    writer.append(0, "ok", "read", 1)
    assert len(path.read_text().splitlines()) == 2
    writer.append(1, "invoke", "read")
    writer.close()
    assert len(read_history(path)) == 3


def test_torn_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(_line(0) + "\n" + _line(1, type="ok", value=None)[:25])
    with pytest.warns(TornLineWarning, match=r"h.jsonl:2: torn last line"):
        events = read_history(path)
    assert len(events) == 1


@pytest.mark.parametrize(
    "lines, line, reason",
    [
        (["{not json"], 1, "malformed JSON"),
        ([_line(0), "{not json", _line(2)], 2, "malformed JSON"),
        ([_line(0), "[1, 2]"], 2, "expected a JSON object"),
        ([_line(0), _line(2)], 2, "out of sequence"),
        ([_line(0, time=50), _line(1, time=10)], 2, "goes backwards"),
        ([_line(0, type="started")], 1, "type must be"),
        ([_line(0, type=["ok"])], 1, "type must be"),
        ([_line(0, process="client-1")], 1, "process must be"),
        ([_line(0, process=True)], 1, "process must be"),
        ([json.dumps({"index": 0, "time": 0, "process": 0, "type": "invoke"})], 1, "missing field 'f'"),
        ([_line(0, f="")], 1, "f must be"),
        ([_line(0, key=[1])], 1, "key must be"),
        ([_line(0), "", _line(1)], 2, "empty line"),
    ],
)
def test_malformed_lines_name_file_line_and_reason(tmp_path, lines, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError) as caught:
        read_history(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert reason in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(HistoryError, match="no such file"):
        read_history(tmp_path / "nope.jsonl")


def test_empty_history(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_history(path) == []
