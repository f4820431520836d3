"""Porcupine's kv test data: one EDN map per line,
`{:process N, :type :invoke|:ok, :f :get|:put|:append, :key "k", :value nil|"s"}`.

A regular expression reads the usual shape fast; anything else goes through edn_format.
"""
from __future__ import annotations

import re

import edn_format

from history.events import EVENT_TYPES, Event, HistoryError
from history.importers.edn_values import plain

_LINE = re.compile(
    r'^\{:process (\d+), :type :(\w+), :f :(\w+), :key "((?:[^"\\]|\\.)*)", :value (nil|"((?:[^"\\]|\\.)*)")\}$'
)


def parse_line(raw: str, number: int, index: int) -> Event:
    match = _LINE.match(raw.strip())
    if match and "\\" not in raw:
        process, type_, f, key, value_text, value = match.groups()
        return Event(index, index, int(process), type_, f, None if value_text == "nil" else value, key, line=number)
    return _parse_edn(raw, number, index)


def _parse_edn(raw: str, number: int, index: int) -> Event:
    try:
        data = edn_format.loads(raw)
    except Exception as exc:  # edn_format raises several exception types for bad syntax
        raise HistoryError(f"malformed EDN map: {exc}", line=number) from None
    if not isinstance(data, (dict, edn_format.ImmutableDict)):
        raise HistoryError("expected an EDN map", line=number)
    op = {str(plain(k)): plain(v) for k, v in data.items()}
    process, type_, f = op.get("process"), op.get("type"), op.get("f")
    if not isinstance(process, int):
        raise HistoryError(f":process must be an integer, got {process!r}", line=number)
    if not isinstance(type_, str) or type_ not in EVENT_TYPES:  # a list would not even hash
        raise HistoryError(f":type must be :invoke, :ok, :fail or :info, got {type_!r}", line=number)
    if not isinstance(f, str):
        raise HistoryError(f":f must be a keyword, got {f!r}", line=number)
    key = op.get("key")
    return Event(index, index, process, type_, f, op.get("value"), key if isinstance(key, (str, int)) else None, line=number)


def load(path: str) -> list[Event]:
    from history.importers.text import read_text

    events: list[Event] = []
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        if raw.strip():
            events.append(parse_line(raw, number, len(events)))
    return events
