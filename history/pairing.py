"""Pair invoke/completion events into operations, enforcing the per-process rules.

Shared by every checker: linearizability here, other properties in later parts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from history.events import FAIL, INFO, INVOKE, OK, Event, HistoryError, Key, Process


@dataclass(slots=True)
class Operation:
    """One client operation: its invocation and (maybe) completion.

    `value` is what a model should see: the completion's value for ok ops (e.g. what a read
    returned), the invocation's value otherwise. `ret` is None when the op never completed or
    completed with info: it may take effect at any time after `call`.
    """

    id: int
    process: Process
    f: str
    value: Any
    status: str  # ok | fail | info
    call: int  # index of the invoke event
    ret: int | None  # index of the completion event, None if open forever (info)
    key: Key = None
    invoke_value: Any = None
    call_time: int = 0
    ret_time: int | None = None
    node: str | None = None
    error: Any = None
    line: int | None = None  # source line of the invocation
    ret_line: int | None = None

    @property
    def is_info(self) -> bool:
        return self.status == INFO

    def with_value(self, value: Any) -> "Operation":
        """A copy with another value (what dataclasses.replace does, several times faster)."""
        return Operation(self.id, self.process, self.f, value, self.status, self.call, self.ret, self.key,
                         self.invoke_value, self.call_time, self.ret_time, self.node, self.error, self.line,
                         self.ret_line)


def _open_op_error(event: Event, previous: Event) -> HistoryError:
    where = f"line {previous.line}" if previous.line is not None else f"index {previous.index}"
    state = "is retired by its info" if previous.type == INFO else "is still open"
    return HistoryError(
        f"process {event.process} invokes {event.f!r} while its {previous.f!r} from {where} {state}",
        line=event.line,
    )


def pair_operations(events: Iterable[Event], *, include_failed: bool = True) -> list[Operation]:
    """Operations in invocation order. Nemesis events are context, not ops, and are skipped.

    Raises HistoryError (with the event's line) for an invoke while the process has an open or
    retired op, a completion without an invoke, or a completion whose f differs from its invoke.
    Ops still open at the end count as info.
    """
    open_by_process: dict[Process, tuple[Event, Operation]] = {}
    retired: dict[Process, Event] = {}
    ops: list[Operation] = []
    for event in events:
        process = event.process
        if process.__class__ is not int and not event.is_client:  # the common int case stays cheap
            continue
        if event.type == INVOKE:
            if process in open_by_process or process in retired:
                raise _open_op_error(event, retired.get(process) or open_by_process[process][0])
            op = Operation(len(ops), process, event.f, event.value, INFO, event.index, None, event.key,
                           event.value, event.time, None, event.node, None, event.line)
            ops.append(op)
            open_by_process[process] = (event, op)
            continue
        pending = open_by_process.pop(process, None)
        if pending is None:
            if process in retired:
                raise HistoryError(f"process {process} completes {event.f!r} after its op was retired by info", line=event.line)
            raise HistoryError(f"{event.type} {event.f!r} of process {process} without an invoke", line=event.line)
        invoke, op = pending
        if event.f != invoke.f:
            raise HistoryError(
                f"process {process} completes {event.f!r} but invoked {invoke.f!r} (line {invoke.line})",
                line=event.line,
            )
        _complete(op, event)
        if event.type == INFO:
            retired[process] = event
    if include_failed:
        return ops
    return [op for op in ops if op.status != FAIL]


def _complete(op: Operation, event: Event) -> None:
    op.status = event.type
    op.error = event.error
    op.node = op.node or event.node
    if op.key is None:
        op.key = event.key
    if event.type == OK:
        op.value = event.value
        op.ret, op.ret_time, op.ret_line = event.index, event.time, event.line
    elif event.type == FAIL:
        op.ret, op.ret_time, op.ret_line = event.index, event.time, event.line
    elif op.value is None:  # info: keep what was asked; the completion may fill it in
        op.value = event.value


def validate_events(events: list[Event]) -> None:
    """Raise HistoryError if the events break the per-process rules."""
    pair_operations(events)
