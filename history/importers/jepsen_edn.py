"""Jepsen / Knossos `history.edn`: one EDN vector or list of op maps, maybe over many lines.

Non-integer processes (:nemesis, ...) become "nemesis" (context, not client ops). Real-time order
is the order in the file (Knossos's convention); :time is kept when present, clamped to be monotonic.
"""
from __future__ import annotations

from typing import Any

import edn_format

from history.events import EVENT_TYPES, NEMESIS, Event, HistoryError
from history.importers import fast_edn
from history.importers.edn_values import plain
from history.importers.fast_edn import Unsupported


def map_start_lines(text: str) -> list[int]:
    """1-based line of each top-level op map (a `{` at depth 1), skipping strings and comments."""
    lines: list[int] = []
    depth, line, i, n = 0, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
        elif ch == "\\":  # a character literal such as \{ must not count as a bracket
            i += 2
            continue
        elif ch in "[({":
            if ch == "{" and depth == 1:
                lines.append(line)
            depth += 1
        elif ch in "])}":
            depth -= 1
        i += 1
    return lines


def load(path: str) -> list[Event]:
    from history.importers.text import read_text

    text = read_text(path)
    try:
        data = fast_edn.loads(text)
    except Unsupported:
        try:
            data = edn_format.loads(text)
        except Exception as exc:  # edn_format raises several exception types for bad syntax
            raise HistoryError(f"malformed EDN: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, (list, tuple, edn_format.ImmutableList)) or isinstance(data, str):
        raise HistoryError(f"expected an EDN vector or list of op maps, got {type(data).__name__}", line=1)
    lines = map_start_lines(text)
    events: list[Event] = []
    last_time = 0
    for position, raw in enumerate(data):
        line = lines[position] if position < len(lines) else None
        event = _event(raw, position, line)
        event.time = max(event.time, last_time)
        last_time = event.time
        events.append(event)
    return events


def _event(raw: Any, position: int, line: int | None) -> Event:
    if not isinstance(raw, (dict, edn_format.ImmutableDict)):
        raise HistoryError(f"op #{position} is not a map", line=line)
    op = {str(plain(k)): v for k, v in raw.items()}
    type_ = plain(op.get("type"))
    if not isinstance(type_, str) or type_ not in EVENT_TYPES:  # a list would not even hash
        raise HistoryError(f"op #{position}: :type must be :invoke, :ok, :fail or :info, got {type_!r}", line=line)
    f = plain(op.get("f"))
    if f is None:
        raise HistoryError(f"op #{position}: missing :f", line=line)
    process = plain(op.get("process"))
    if not isinstance(process, int) or isinstance(process, bool):
        process = NEMESIS
    time = op.get("time")
    key = plain(op.get("key")) if "key" in op else None
    node = plain(op.get("node"))
    return Event(
        index=position,
        time=time if isinstance(time, int) and time >= 0 else position,
        process=process,
        type=type_,
        f=str(f),
        value=plain(op.get("value")),
        key=key if isinstance(key, (str, int, float)) else None,
        node=node if isinstance(node, str) else None,
        error=plain(op.get("error")),
        line=line,
    )
