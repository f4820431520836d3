"""Read a JSONL history, checking every line against the contract (see history.events)."""
from __future__ import annotations

import json
import os
import warnings
from typing import Any

from history.events import EVENT_TYPES, NEMESIS, Event, HistoryError


class TornLineWarning(UserWarning):
    """The last line of a history was cut short (the writer crashed mid-line); it was skipped."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _freeze_key(key: Any, line: int) -> Any:
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    raise HistoryError(f"key must be a string or a number, not {type(key).__name__}", line=line)


_KEY_TYPES = (str, int, float, bool)


def event_from_dict(obj: Any, line: int, expected_index: int | None = None) -> Event:
    """Validate one decoded line and build its Event (HistoryError names the line and reason)."""
    # Fast path for the well-formed line (nearly all of them); anything odd takes the path below,
    # which finds and names the problem.
    if type(obj) is dict and "index" in obj and "time" in obj and "process" in obj and "type" in obj and "f" in obj:
        index, time, process, type_, f = obj["index"], obj["time"], obj["process"], obj["type"], obj["f"]
        key, node = obj.get("key"), obj.get("node")
        if (type(index) is int and index >= 0 and (expected_index is None or index == expected_index)
                and type(time) is int and time >= 0 and (type(process) is int or process == NEMESIS)
                and type(type_) is str and type_ in EVENT_TYPES and type(f) is str and f
                and (node is None or type(node) is str) and (key is None or type(key) in _KEY_TYPES)):
            return Event(index, time, process, type_, f, obj.get("value"), key, node, obj.get("error"), line)
    return _checked_event(obj, line, expected_index)


def _checked_event(obj: Any, line: int, expected_index: int | None) -> Event:
    if not isinstance(obj, dict):
        raise HistoryError(f"expected a JSON object, got {type(obj).__name__}", line=line)
    for name in ("index", "time", "process", "type", "f"):
        if name not in obj:
            raise HistoryError(f"missing field {name!r}", line=line)
    index, time, process, type_, f = obj["index"], obj["time"], obj["process"], obj["type"], obj["f"]
    if not _is_int(index) or index < 0:
        raise HistoryError(f"index must be a non-negative integer, got {index!r}", line=line)
    if expected_index is not None and index != expected_index:
        raise HistoryError(f"index {index} out of sequence (expected {expected_index})", line=line)
    if not _is_int(time) or time < 0:
        raise HistoryError(f"time must be non-negative integer nanoseconds, got {time!r}", line=line)
    if not (_is_int(process) or process == NEMESIS):
        raise HistoryError(f"process must be an integer or \"nemesis\", got {process!r}", line=line)
    if not isinstance(type_, str) or type_ not in EVENT_TYPES:
        raise HistoryError(f"type must be one of invoke|ok|fail|info, got {type_!r}", line=line)
    if not isinstance(f, str) or not f:
        raise HistoryError(f"f must be a non-empty string, got {f!r}", line=line)
    node = obj.get("node")
    if node is not None and not isinstance(node, str):
        raise HistoryError(f"node must be a string, got {node!r}", line=line)
    return Event(
        index=index,
        time=time,
        process=process,
        type=type_,
        f=f,
        value=obj.get("value"),
        key=_freeze_key(obj.get("key"), line),
        node=node,
        error=obj.get("error"),
        line=line,
    )


def read_history(path: str | os.PathLike[str]) -> list[Event]:
    """All events of a JSONL history, validated line by line.

    A torn last line (no trailing newline, not valid JSON) is skipped with a TornLineWarning;
    anything else malformed raises HistoryError naming file:line and the reason.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise HistoryError("no such file", path=name) from None
    except IsADirectoryError:
        raise HistoryError("is a directory, not a history file", path=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"cannot read: {exc}", path=name) from None
    try:
        events, torn = parse_history_text(text)
    except HistoryError as exc:
        raise exc.located(name) from None
    if torn:
        warnings.warn(f"{name}:{torn}: torn last line skipped (the writer stopped mid-line)", TornLineWarning, stacklevel=2)
    return events


def parse_history_text(text: str) -> tuple[list[Event], str | None]:
    """Events of a JSONL text, and where a torn last line was skipped (None if there was none)."""
    lines = text.split("\n")
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        lines.pop()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    events: list[Event] = []
    last_time = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            raise HistoryError("empty line in the middle of the history", line=number)
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not ends_with_newline:
                return events, str(number)
            raise HistoryError(f"malformed JSON: {exc.msg} (column {exc.colno})", line=number) from None
        event = event_from_dict(obj, number, expected_index=len(events))
        if event.time < last_time:
            raise HistoryError(f"time {event.time} goes backwards (previous {last_time})", line=number)
        last_time = event.time
        events.append(event)
    return events, None
