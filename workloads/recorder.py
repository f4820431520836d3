"""One shared, thread-safe history for a run: client workers and the nemesis record into the same file.

Times in the history are nanoseconds since `start_ns` (monotonic); `start_wall` lets offline checkers map
them back to wall-clock time, to compare with Mistral's and the witness's timestamps.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from history.events import NEMESIS, Event, Key, Process
from history.writer import HistoryWriter

OnEvent = Callable[[Event], None]


class HistoryRecorder:
    """Thread-safe recorder of history events; `record(process="nemesis", ...)` for fault events."""

    def __init__(self, path: str | Path, on_event: OnEvent | None = None, fsync_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.start_ns = time.monotonic_ns()
        self.start_wall = time.time()
        self._writer = HistoryWriter(self.path, start_ns=self.start_ns, fsync_interval_s=fsync_interval_s)
        self._on_event = on_event
        self.last_nemesis_ns: int | None = None

    def record(self, process: Process, type: str, f: str, value: Any = None, key: Key = None,
               node: str | None = None, error: Any = None) -> Event:
        event = self._writer.append(process, type, f, value, key=key, node=node, error=error)
        if process == NEMESIS:
            self.last_nemesis_ns = event.time
        if self._on_event is not None:
            self._on_event(event)
        return event

    def wall_time(self, history_ns: int) -> float:
        return self.start_wall + history_ns / 1e9

    def last_nemesis_wall(self) -> float | None:
        return None if self.last_nemesis_ns is None else self.wall_time(self.last_nemesis_ns)

    @property
    def count(self) -> int:
        return self._writer.count

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> "HistoryRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["HistoryRecorder"]
