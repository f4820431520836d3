"""jepsen.util log lines, as in Porcupine's etcd test data.

`INFO  jepsen.util - <process> :<type> :<f> <value>`, tab- or space-separated; value is nil, an
integer, `[from to]` or `:timed-out`. A `:fail :read :timed-out` (and any `:info`) leaves the op
open: it becomes an info event whose value is unknown.
"""
from __future__ import annotations

from typing import Any

from history.events import EVENT_TYPES, FAIL, INFO, Event, HistoryError

MARKER = "jepsen.util - "
TIMED_OUT = ":timed-out"


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


def parse_line(raw: str, number: int, index: int) -> Event | None:
    at = raw.find(MARKER)
    if at < 0:
        return None  # other log lines carry no ops
    parts = raw[at + len(MARKER):].split(None, 3)
    if len(parts) < 3:
        raise HistoryError("expected '<process> :<type> :<f> <value>' after 'jepsen.util - '", line=number)
    process_text, type_text, f_text = parts[0], parts[1], parts[2]
    value_text = parts[3] if len(parts) > 3 else "nil"
    type_ = type_text.lstrip(":")
    if type_ not in EVENT_TYPES:
        raise HistoryError(f"unknown op type {type_text!r}", line=number)
    try:
        process: int | str = int(process_text)
    except ValueError:
        process = "nemesis"
    timed_out = value_text.strip() == TIMED_OUT
    if timed_out and type_ == FAIL:
        type_ = INFO  # a timed-out read may or may not have happened
    try:
        value = None if timed_out else parse_value(value_text)
    except ValueError as exc:
        raise HistoryError(str(exc), line=number) from None
    return Event(
        index=index, time=index, process=process, type=type_, f=f_text.lstrip(":"),
        value=value, error="timed-out" if timed_out else None, line=number,
    )


def load(path: str) -> list[Event]:
    from history.importers import read_text

    events: list[Event] = []
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        event = parse_line(raw, number, len(events))
        if event is not None:
            events.append(event)
    _retire_info_processes(events)
    return events


def _retire_info_processes(events: list[Event]) -> None:
    """Give a process a fresh id when it invokes again after an info (a timed-out read).

    The logs reuse the worker number, but in the contract an info op stays open, so its process id
    is retired - exactly what Jepsen itself does by moving the worker to a new process id.
    """
    client = [e.process for e in events if isinstance(e.process, int)]
    next_id = max(client, default=-1) + 1
    current: dict[int, int] = {}
    retired: set[int] = set()
    for event in events:
        worker = event.process
        if not isinstance(worker, int):
            continue
        if event.type == "invoke" and worker in retired:
            retired.discard(worker)
            current[worker] = next_id
            next_id += 1
        event.process = current.get(worker, worker)
        if event.type == INFO:
            retired.add(worker)
