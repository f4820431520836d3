"""Crash-safe history writer: appends JSON lines, flushes and fsyncs in batches.

A crash can at worst leave a torn last line, which `read_history` tolerates with a warning.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time as _time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from history.events import EVENT_TYPES, Event, Key, Process


class HistoryWriter:
    """Append events to a JSONL history; thread-safe; use as a context manager.

    `flush_every` events are buffered before a write to the OS; the file is fsynced at most every
    `fsync_interval_s` seconds (and on close), so a crash loses at most that window.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_every: int = 512,
        fsync_interval_s: float = 1.0,
        start_ns: int | None = None,
    ) -> None:
        self.path = Path(path)
        # A history belongs to one run: start it afresh (appends after that are the crash-safe part).
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8", buffering=1 << 20)
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._flush_every = max(1, flush_every)
        self._fsync_interval_s = fsync_interval_s
        self._last_fsync = _time.monotonic()
        self._start_ns = _time.monotonic_ns() if start_ns is None else start_ns
        self._last_time = 0
        self._dumps = json.JSONEncoder(separators=(", ", ": "), ensure_ascii=False).encode
        self.count = 0

    # --- writing -----------------------------------------------------------------------------

    def append(
        self,
        process: Process,
        type: str,
        f: str,
        value: Any = None,
        *,
        key: Key = None,
        node: str | None = None,
        error: Any = None,
    ) -> Event:
        """Record one event now; index and time are assigned here so they are monotonic."""
        if type not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {sorted(EVENT_TYPES)}, not {type!r}")
        with self._lock:
            now = max(_time.monotonic_ns() - self._start_ns, self._last_time)
            event = Event(self.count, now, process, type, f, value, key, node, error)
            self._write_locked(event)
            return event

    def write_event(self, event: Event) -> None:
        """Record a ready-made event; its index is renumbered to keep the file consistent."""
        with self._lock:
            event.index = self.count
            event.time = max(event.time, self._last_time)
            self._write_locked(event)

    def _write_locked(self, event: Event) -> None:
        self._pending.append(self._dumps(event.to_dict()))
        self._last_time = event.time
        self.count += 1
        if len(self._pending) >= self._flush_every:
            self._flush_locked()

    # --- durability --------------------------------------------------------------------------

    def flush(self, fsync: bool = True) -> None:
        with self._lock:
            self._flush_locked(force_fsync=fsync)

    def _flush_locked(self, force_fsync: bool = False) -> None:
        if self._file is None:
            raise ValueError(f"history writer for {self.path} is closed")
        if self._pending:
            self._file.write("\n".join(self._pending) + "\n")
            self._pending.clear()
        self._file.flush()
        now = _time.monotonic()
        if force_fsync or now - self._last_fsync >= self._fsync_interval_s:
            os.fsync(self._file.fileno())
            self._last_fsync = now

    def close(self) -> None:
        with self._lock:
            if self._file is None:
                return
            self._flush_locked(force_fsync=True)
            self._file.close()
            self._file = None

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_history(path: str | os.PathLike[str], events: list[Event]) -> None:
    """Write a whole list of events (e.g. after an import) as a JSONL history."""
    with HistoryWriter(path) as writer:
        for event in events:
            writer.write_event(dataclasses.replace(event))
