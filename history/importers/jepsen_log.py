"""jepsen.util log lines, as in Porcupine's etcd test data.

`INFO  jepsen.util - <process> :<type> :<f> <value>`, tab- or space-separated; value is nil, an
integer, `[from to]` or `:timed-out`. A `:fail :read :timed-out` (and any `:info`) leaves the op
open: it becomes an info event whose value is unknown.
"""
from __future__ import annotations

from typing import Any

from history.events import EVENT_TYPES, FAIL, INFO, INVOKE, Event, HistoryError

MARKER = "jepsen.util - "
TIMED_OUT = ":timed-out"
_MISSING = object()


def parse_value(text: str) -> Any:
    """nil, integers, keywords and flat vectors - all the jepsen.util log prints for registers."""
    text = text.strip()
    if text in ("", "nil"):
        return None
    if text.startswith("[") and text.endswith("]"):
        return [parse_value(part) for part in text[1:-1].replace(",", " ").split()]
    if text.startswith(":"):
        return text[1:]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1]
    raise ValueError(f"cannot read value {text!r}")


def parse_line(raw: str, number: int, index: int, values: dict[str, Any] | None = None) -> Event | None:
    """The event on one log line, or None for a line without an op.

    `values` caches parsed value texts: a log repeats the same few (nil, small integers, pairs).
    """
    at = raw.find(MARKER)
    if at < 0:
        return None  # other log lines carry no ops
    parts = raw[at + len(MARKER):].split(None, 3)
    if len(parts) < 3:
        raise HistoryError("expected '<process> :<type> :<f> <value>' after 'jepsen.util - '", line=number)
    process_text, type_text, f_text = parts[0], parts[1], parts[2]
    value_text = parts[3].strip() if len(parts) > 3 else "nil"
    type_ = type_text.lstrip(":")
    if type_ not in EVENT_TYPES:
        raise HistoryError(f"unknown op type {type_text!r}", line=number)
    try:
        process: int | str = int(process_text)
    except ValueError:
        process = "nemesis"
    if value_text == TIMED_OUT:
        # a timed-out read may or may not have happened: the op stays open
        return Event(index, index, process, INFO if type_ == FAIL else type_, f_text.lstrip(":"),
                     None, None, None, "timed-out", number)
    value = _cached_value(value_text, number, values if values is not None else {})
    return Event(index, index, process, type_, f_text.lstrip(":"), value, None, None, None, number)


def _cached_value(text: str, number: int, values: dict[str, Any]) -> Any:
    value = values.get(text, _MISSING)
    if value is _MISSING:
        try:
            value = values[text] = parse_value(text)
        except ValueError as exc:
            raise HistoryError(str(exc), line=number) from None
    return value[:] if type(value) is list else value  # events never share a mutable value


def load(path: str) -> list[Event]:
    from history.importers.text import read_text

    events: list[Event] = []
    values: dict[str, Any] = {}
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        event = parse_line(raw, number, len(events), values)
        if event is not None:
            events.append(event)
    _retire_info_processes(events)
    return events


def _retire_info_processes(events: list[Event]) -> None:
    """Give a process a fresh id when it invokes again after an info (a timed-out read).

    The logs reuse the worker number, but in the contract an info op stays open, so its process id
    is retired - exactly what Jepsen itself does by moving the worker to a new process id.
    """
    client = [e.process for e in events if type(e.process) is int]
    next_id = max(client, default=-1) + 1
    current: dict[int, int] = {}
    retired: set[int] = set()
    for event in events:
        worker = event.process
        if type(worker) is not int:
            continue
        if worker in retired and event.type == INVOKE:
            retired.discard(worker)
            current[worker] = next_id
            next_id += 1
        if current:
            event.process = current.get(worker, worker)
        if event.type == INFO:
            retired.add(worker)
