"""Turn a failed search into something a person can read and file as a bug."""
from __future__ import annotations

from typing import Any

from checker.linear import SearchOutcome
from checker.models import Model
from history.events import OK
from history.pairing import Operation

MAX_CONCURRENT_SHOWN = 30
MAX_PREFIX_SHOWN = 40  # the tail of each longest linearization; the full length is reported too


def op_summary(op: Operation, model: Model) -> dict[str, Any]:
    return {
        "id": op.id,
        "process": op.process,
        "f": op.f,
        "value": op.value,
        "status": op.status,
        "key": op.key,
        "invoke_index": op.call,
        "complete_index": op.ret,
        "line": op.line,
        "complete_line": op.ret_line,
        "description": model.describe_op(op),
    }


def _where(op: Operation) -> str:
    if op.line is None:
        return f"events {op.call}-{op.ret if op.ret is not None else 'end'}"
    return f"lines {op.line}-{op.ret_line if op.ret_line is not None else 'end'}"


def failing_operation(ops: list[Operation], linearized: set[int]) -> Operation:
    """The op that could not be linearized: the first ok op to return that is not in the prefix."""
    waiting = [op for op in ops if op.status == OK and op.id not in linearized]
    return min(waiting, key=lambda op: op.ret if op.ret is not None else float("inf"))


def concurrent_with(target: Operation, ops: list[Operation]) -> list[Operation]:
    """Ops whose real-time interval overlaps the target's."""
    target_ret = target.ret if target.ret is not None else float("inf")
    return [
        op for op in ops
        if op is not target and op.call < target_ret and (op.ret is None or op.ret > target.call)
    ]


def build_counterexample(key: Any, ops: list[Operation], outcome: SearchOutcome, model: Model) -> dict[str, Any]:
    prefixes = outcome.longest or [[]]
    linearized = {op.id for op in prefixes[0]}
    failing = failing_operation(ops, linearized)
    concurrent = concurrent_with(failing, ops)
    pending = [op for op in concurrent if op.id not in linearized]
    who = f"process {failing.process}'s {model.describe_op(failing)}"
    if pending:
        rest = f"and no order of the {len(pending)} not-yet-linearized ops concurrent with it makes it possible."
    else:
        rest = "and no other op is left that could come before it."
    key_text = "" if key is None else f"On key {key!r}: "
    explanation = (
        f"{key_text}after the longest valid prefix ({len(prefixes[0])} ops) "
        f"{model.describe_state(outcome.longest_state)}; {who} ({_where(failing)}) cannot take effect there, {rest}"
    )
    explanation = explanation[0].upper() + explanation[1:]
    return {
        "key": key,
        "op": op_summary(failing, model),
        "state": model.describe_state(outcome.longest_state),
        "longest_linearizations": [
            {
                "length": len(prefix),
                "ops": [op_summary(op, model) for op in prefix[-MAX_PREFIX_SHOWN:]],
            }
            for prefix in prefixes
        ],
        "concurrent": [
            dict(op_summary(op, model), linearized=op.id in linearized)
            for op in concurrent[:MAX_CONCURRENT_SHOWN]
        ],
        "concurrent_total": len(concurrent),
        "explanation": explanation,
    }
