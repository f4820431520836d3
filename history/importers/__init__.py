"""Load a history file in any supported format as a list of contract events.

Each format is one small module with `load(path) -> list[Event]`. Every loader sets `Event.line`
so errors can name file:line, and the result is checked against the per-process rules.
"""
from __future__ import annotations

import os
from typing import Callable

from history.events import Event, HistoryError
from history.importers.text import read_text
from history.pairing import validate_events

Loader = Callable[[str], list[Event]]


def _jsonl(path: str) -> list[Event]:
    from history.reader import read_history

    return read_history(path)


def _jepsen_edn(path: str) -> list[Event]:
    from history.importers import jepsen_edn

    return jepsen_edn.load(path)


def _jepsen_log(path: str) -> list[Event]:
    from history.importers import jepsen_log

    return jepsen_log.load(path)


def _porcupine_kv(path: str) -> list[Event]:
    from history.importers import porcupine_kv

    return porcupine_kv.load(path)


FORMATS: dict[str, Loader] = {
    "jsonl": _jsonl,
    "jepsen-edn": _jepsen_edn,
    "jepsen-log": _jepsen_log,
    "porcupine-kv": _porcupine_kv,
}


def guess_format(path: str) -> str:
    """The format a file's name suggests (jsonl unless it clearly is something else)."""
    name = os.path.basename(path).lower()
    if name.endswith(".edn"):
        return "jepsen-edn"
    if name.endswith(".log"):
        return "jepsen-log"
    return "jsonl"


def load(path: str | os.PathLike[str], fmt: str = "jsonl", *, validate: bool = True) -> list[Event]:
    """The events of one history file; HistoryError (file:line: reason) if it is malformed."""
    name = os.fspath(path)
    if fmt not in FORMATS:
        raise HistoryError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})", path=name)
    try:
        events = FORMATS[fmt](name)
        if validate:
            validate_events(events)
    except HistoryError as exc:
        raise exc.located(name) from None
    return events
