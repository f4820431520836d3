"""The history event contract: one operation event per JSON line.

`{"index": 0, "time": 1234567, "process": 3, "type": "invoke", "f": "write", "value": 5,
  "key": "k1", "node": "api-1"}`

- index: 0-based, +1 per line.  time: int nanoseconds since run start, monotonic.
- process: int for a client process or the string "nemesis".  A process has at most one open op.
- type: invoke | ok | fail | info.  ok: it happened; fail: it certainly did not happen;
  info: unknown - it may take effect any time after its invocation, so it stays open until the end
  and its process id is retired.
- f: the operation; value: any JSON; key (optional): ops on different keys are independent;
  node, error: optional.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
EVENT_TYPES = frozenset({INVOKE, OK, FAIL, INFO})
COMPLETION_TYPES = frozenset({OK, FAIL, INFO})
NEMESIS = "nemesis"

Process = int | str
Key = str | int | float | bool | None


class HistoryError(Exception):
    """A history that breaks the contract. Prints as `file:line: reason`."""

    def __init__(self, reason: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.line = line

    def located(self, path: str) -> "HistoryError":
        """The same error, naming the file it came from (if not named yet)."""
        if self.path is None:
            self.path = path
        return self

    def __str__(self) -> str:
        where = self.path or "<history>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class Event:
    """One line of a history."""

    index: int
    time: int
    process: Process
    type: str
    f: str
    value: Any = None
    key: Key = None
    node: str | None = None
    error: Any = None
    # Where the event came from in its source file, for error messages; not serialised.
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def is_client(self) -> bool:
        """Client ops are the ones a checker looks at; nemesis events are context only."""
        return isinstance(self.process, int) and not isinstance(self.process, bool)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.key is not None:
            out["key"] = self.key
        if self.node is not None:
            out["node"] = self.node
        if self.error is not None:
            out["error"] = self.error
        return out
